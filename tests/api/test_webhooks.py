"""Webhook signing and delivery: HMAC-SHA256 over ``timestamp.body``, retried with backoff."""

from __future__ import annotations

import json

import httpx

from api.webhooks import SIGNATURE, TIMESTAMP, deliver, sign, verify
from tests.api.receiver import receiver

SECRET = b"k" * 32


def test_signature_verifies_only_the_exact_body_and_timestamp() -> None:
    signature = sign(SECRET, "1700000000", b'{"a":1}')
    assert signature.startswith("sha256=")
    assert verify(SECRET, "1700000000", b'{"a":1}', signature)
    assert not verify(SECRET, "1700000001", b'{"a":1}', signature)
    assert not verify(SECRET, "1700000000", b'{"a":2}', signature)
    assert not verify(b"other" * 8, "1700000000", b'{"a":1}', signature)


async def test_delivery_retries_server_errors_then_succeeds_with_a_valid_signature() -> None:
    with receiver([500, 503]) as hook:
        async with httpx.AsyncClient() as client:
            done = await deliver(
                client,
                hook.url,
                {"job_id": "j", "status": "SUCCEEDED"},
                SECRET,
                attempts=4,
                backoff_s=0.01,
            )
    assert (done.status, done.attempts, len(hook.calls)) == (200, 3, 3)
    last = hook.calls[-1]
    assert verify(SECRET, last.headers[TIMESTAMP], last.body, last.headers[SIGNATURE])
    assert json.loads(last.body) == {"job_id": "j", "status": "SUCCEEDED"}


async def test_a_client_error_is_final_and_not_retried() -> None:
    with receiver([410]) as hook:
        async with httpx.AsyncClient() as client:
            done = await deliver(client, hook.url, {"x": 1}, SECRET, attempts=5, backoff_s=0.01)
    assert (done.status, done.attempts, len(hook.calls)) == (410, 1, 1)


async def test_an_unreachable_receiver_is_tried_every_attempt() -> None:
    async with httpx.AsyncClient(timeout=1.0) as client:
        done = await deliver(
            client, "http://127.0.0.1:9/hook", {"x": 1}, SECRET, attempts=3, backoff_s=0.01
        )
    assert (done.status, done.attempts) == (None, 3)
