"""Rate limits per key and tier (GCRA in Redis): headers on every limited response, 429 with
Retry-After past the tier, and callers counted apart."""

from __future__ import annotations

import asyncio
import re

import pytest
import redis.asyncio as aioredis

from api.config import RateTier
from api.errors import LockedOut
from api.ratelimit import RateLimiter, Read
from tests.api.conftest import Api

pytestmark = pytest.mark.stack


async def test_tiny_tier_allows_its_quota_then_429_with_headers(api: Api) -> None:
    created = await api.key_with(await api.as_admin(), tier="tiny")
    key = {"X-API-Key": created["api_key"]}
    answers = [await api.client.get("/api/v1/auth/me", headers=key) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit"] for a in answers[:3]] == [
        f'"tiny";r={n};t={t}' for n, t in ((2, 20), (1, 40), (0, 60))
    ]
    refused = answers[3]
    assert refused.headers["RateLimit-Policy"] == '"tiny";q=3;w=60'
    assert re.fullmatch(r'"tiny";r=0;t=\d+', refused.headers["RateLimit"])
    assert 19 <= int(refused.headers["Retry-After"]) <= 20  # one emission interval: 60 s / 3
    assert refused.json()["error"] == "rate_limited"


async def test_two_keys_of_one_tier_are_counted_apart(api: Api) -> None:
    admin = await api.as_admin()
    first = await api.key_with(admin, tier="tiny")
    second = await api.key_with(admin, tier="tiny")
    for _ in range(3):
        await api.client.get("/api/v1/auth/me", headers={"X-API-Key": first["api_key"]})
    other = await api.client.get("/api/v1/auth/me", headers={"X-API-Key": second["api_key"]})
    assert other.status_code == 200


async def test_users_get_the_configured_user_tier(api: Api) -> None:
    response = await api.client.get("/api/v1/auth/me", headers=await api.as_admin())
    assert response.headers["RateLimit-Policy"] == '"standard";q=10000;w=60'


async def test_public_routes_are_not_rate_limited(api: Api) -> None:
    response = await api.client.get("/api/v1/system/health")
    assert "RateLimit" not in response.headers


async def test_quota_refills_at_the_emission_rate(redis_url: str, unique: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        limiter = RateLimiter(
            client, f"qllm:test:{unique}:", {"fast": RateTier(limit=2, window_s=1.0)}
        )
        decisions = [await limiter.hit("c", "fast") for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]
        await asyncio.sleep(0.6)  # a little more than one emission interval (1 s / 2)
        assert (await limiter.hit("c", "fast")).allowed
    finally:
        await client.aclose()


async def test_a_read_handed_to_the_limiter_comes_back_with_an_allowed_decision(
    redis_url: str, unique: str
) -> None:
    client = aioredis.from_url(redis_url)
    try:
        limiter = RateLimiter(
            client, f"qllm:test:{unique}:", {"two": RateTier(limit=2, window_s=60.0)}
        )
        await client.hset(f"qllm:test:{unique}:h", mapping={"kind": "job", "state": "{}"})
        held = Read(f"qllm:test:{unique}:h", ("kind", "state", "absent"))
        first = await limiter.hit("c", "two", read=held)
        missing = await limiter.hit("c", "two", read=Read(f"qllm:test:{unique}:none", ("kind",)))
        refused = await limiter.hit("c", "two", read=held)
        plain = await limiter.hit("d", "two")
        assert first.allowed and first.read == (b"job", b"{}", None)
        assert missing.allowed and missing.read == (None,)
        assert not refused.allowed and refused.read == ()  # nothing is read for a refusal
        assert plain.allowed and plain.read == () and plain.remaining == 1
    finally:
        await client.aclose()


async def test_a_locked_caller_is_refused_before_the_read(redis_url: str, unique: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        prefix = f"qllm:test:{unique}:"
        limiter = RateLimiter(client, prefix, {"two": RateTier(limit=2, window_s=60.0)})
        await client.set(f"{prefix}lock:ip:1.2.3.4", "1", px=60_000)
        with pytest.raises(LockedOut):
            await limiter.hit(
                "c", "two", (f"{prefix}lock:ip:1.2.3.4",), Read(f"{prefix}h", ("kind",))
            )
        assert await client.get(f"{prefix}rl:two:c") is None  # not counted either
    finally:
        await client.aclose()


async def test_a_job_status_over_the_tier_is_429_and_within_it_the_job(api: Api) -> None:
    created = await api.key_with(await api.as_admin(), tier="tiny")
    key = {"X-API-Key": created["api_key"]}
    answers = [await api.client.get("/api/v1/training/jobs/job-none", headers=key)
               for _ in range(4)]  # fmt: skip
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert answers[0].json()["details"] == {"job_id": "job-none"}
    assert answers[3].json()["error"] == "rate_limited"


async def test_a_model_status_over_the_tier_is_429_and_within_it_the_model(api: Api) -> None:
    created = await api.key_with(await api.as_admin(), tier="tiny")
    key = {"X-API-Key": created["api_key"]}
    paths = ["/api/v1/models/model-none", "/api/v1/models/model-none/status"] * 2
    answers = [await api.client.get(path, headers=key) for path in paths]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert answers[1].json()["details"] == {"model_id": "model-none"}
