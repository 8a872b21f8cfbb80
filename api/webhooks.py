"""Webhooks: a training job's ``callback_url`` gets a POST of its final status, signed, retried.

Where it runs: ``WebhookWatcher`` is a task in the API process (started by the app's lifespan;
tests start it themselves). It pattern-subscribes to the projection's live channels
(``<prefix>:live:*``), which carry every applied event once, in order, right after the
projection wrote the state that includes it. On a job's terminal event (``JobSucceeded``,
``JobFailed``, ``JobCancelled``) it reads the job from the projection and, if it names a
callback, delivers.

Deliberate choices:
- Several API processes each watch; a ``SET NX`` claim per job in Redis makes one of them
  deliver. A process that dies mid-delivery leaves the claim (at-most-once per claim lifetime).
- Signature: ``X-QLLM-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with the
  timestamp in ``X-QLLM-Timestamp``, so a receiver can refuse replays; the secret is
  ``QLLM_API_WEBHOOK_SECRET`` (without it the API refuses callback URLs).
- Retries: a network error or a 5xx/429 is retried ``webhook_attempts`` times with exponential
  backoff; a 4xx other than 429 is the receiver's final answer.
- Known limit: a terminal event applied while no API process watches is not delivered later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from api.projection import ProjectionReader
from api.resources import Resources
from schemas import jobs
from schemas.codec import default_codec
from schemas.errors import SchemaError
from schemas.jobs import JobState

log = logging.getLogger("qllm.api.webhooks")
SIGNATURE, TIMESTAMP = "X-QLLM-Signature", "X-QLLM-Timestamp"
TERMINAL = (jobs.JobSucceeded, jobs.JobFailed, jobs.JobCancelled)
CLAIM_TTL_S = 7 * 24 * 3600


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def payload(state: JobState, event: jobs.Event) -> dict[str, Any]:
    return {
        "event": "job.finished",
        "job_id": state.job_id,
        "status": state.status.value,
        "model_id": state.model_id,
        "owner": state.owner,
        "step": state.step,
        "loss": state.loss,
        "checkpoint_uri": state.checkpoint_uri,
        "reason": state.reason,
        "evaluation": state.evaluation,
        "event_id": event.event_id,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
    }


@dataclass(frozen=True)
class Delivery:
    url: str
    status: int | None
    attempts: int


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    secret: bytes,
    attempts: int,
    backoff_s: float,
) -> Delivery:
    """POST ``body`` signed; retried with exponential backoff on network errors, 5xx and 429."""
    raw = json.dumps(body, sort_keys=True).encode()
    status: int | None = None
    for attempt in range(1, attempts + 1):
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP: stamp,
            SIGNATURE: sign(secret, stamp, raw),
        }
        try:
            status = (await client.post(url, content=raw, headers=headers)).status_code
        except httpx.HTTPError as exc:
            log.warning("webhook %s attempt %d failed: %r", url, attempt, exc)
            status = None
        if status is not None and (status < 500 and status != 429):
            return Delivery(url, status, attempt)
        if attempt < attempts:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    return Delivery(url, status, attempts)


class WebhookWatcher:
    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self._config = resources.config
        self._tasks: set[asyncio.Task[Delivery | None]] = set()
        self.deliveries: list[Delivery] = []  # the latest ones, for tests and diagnostics

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Watch until cancelled; reconnects (with a pause) if Redis goes away."""
        while True:
            try:
                await self._watch(ready)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarted: watch again shortly
                log.warning("webhook watcher lost Redis: %r", exc)
                await asyncio.sleep(1.0)

    async def _watch(self, ready: asyncio.Event | None) -> None:
        pubsub = self._resources.redis.pubsub()
        await pubsub.psubscribe(self._resources.projection_keys.live("*"))
        try:
            if ready is not None:
                ready.set()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    self._on_message(message["data"])
        finally:
            await pubsub.aclose()

    def _on_message(self, data: bytes) -> None:
        try:
            event = default_codec().decode(data)
        except SchemaError:
            return
        if isinstance(event, TERMINAL):
            task = asyncio.create_task(self._finished(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _finished(self, event: jobs.Event) -> Delivery | None:
        resources = self._resources
        state = await ProjectionReader(resources.redis, resources.projection_keys).get(
            event.stream_id, "job"
        )
        secret = self._config.webhook_secret
        if not isinstance(state, JobState) or not state.callback_url or secret is None:
            return None
        claim = f"{self._config.redis_prefix}webhook:{event.stream_id}"
        if not await resources.redis.set(claim, event.event_id, nx=True, ex=CLAIM_TTL_S):
            return None  # another API process delivers this one
        async with httpx.AsyncClient(timeout=self._config.webhook_timeout_s) as client:
            done = await deliver(
                client,
                state.callback_url,
                payload(state, event),
                secret.get_secret_value().encode(),
                self._config.webhook_attempts,
                self._config.webhook_backoff_s,
            )
        log.info(
            "webhook of %s to %s: %s after %d attempt(s)",
            event.stream_id,
            done.url,
            done.status,
            done.attempts,
        )
        self.deliveries = [*self.deliveries[-99:], done]
        return done

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def watching(resources: Resources) -> AsyncIterator[WebhookWatcher]:
    """The watcher running for the duration of the block (the app's lifespan uses this)."""
    watcher = WebhookWatcher(resources)
    ready = asyncio.Event()
    task = asyncio.create_task(watcher.run(ready))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), 5.0)  # Redis down: it keeps trying meanwhile
        yield watcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watcher.drain()
