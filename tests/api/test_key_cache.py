"""The API-key record cache: TTL, single-flight loads (pure: no store, a counting loader)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from api.auth.key_cache import KeyCache
from api.auth.permissions import Role
from api.auth.store import ApiKeyRecord


def record(key_id: str) -> ApiKeyRecord:
    return ApiKeyRecord(key_id, "hash", "bench", Role.TRAINER, "standard", "ann", "ann",
                        datetime.now(UTC))  # fmt: skip


class Loader:
    """Counts reads; each read waits for ``gate`` (the store's round trip)."""

    def __init__(self, fail: bool = False) -> None:
        self.reads, self.fail, self.gate = 0, fail, asyncio.Event()

    async def __call__(self, key_id: str) -> ApiKeyRecord | None:
        self.reads += 1
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("store down")
        return record(key_id) if key_id.startswith("k") else None


async def test_concurrent_misses_share_one_read() -> None:
    cache, load = KeyCache(ttl_s=60), Loader()
    waiting = [asyncio.create_task(cache.get("k1", load)) for _ in range(20)]
    await asyncio.sleep(0.01)
    load.gate.set()
    found = await asyncio.gather(*waiting)
    assert load.reads == 1
    assert {r.key_id for r in found if r is not None} == {"k1"} and None not in found
    assert await cache.get("k1", load) is found[0] and load.reads == 1  # cached now


async def test_an_expired_record_is_read_again_once() -> None:
    cache, load = KeyCache(ttl_s=0.05), Loader()
    load.gate.set()
    await cache.get("k1", load)
    await asyncio.sleep(0.06)
    await asyncio.gather(*(cache.get("k1", load) for _ in range(10)))
    assert load.reads == 2


async def test_a_failed_read_fails_every_waiter_and_the_next_call_reads_again() -> None:
    cache, load = KeyCache(ttl_s=60), Loader(fail=True)
    waiting = [asyncio.create_task(cache.get("k1", load)) for _ in range(5)]
    await asyncio.sleep(0.01)
    load.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results) and load.reads == 1
    load.fail = False
    assert await cache.get("k1", load) is not None and load.reads == 2


async def test_a_cancelled_first_caller_does_not_cancel_the_read_of_the_others() -> None:
    cache, load = KeyCache(ttl_s=60), Loader()
    first = asyncio.create_task(cache.get("k1", load))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(cache.get("k1", load))
    await asyncio.sleep(0.01)
    first.cancel()
    load.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second) is not None and load.reads == 1


async def test_unknown_keys_are_not_cached() -> None:
    cache, load = KeyCache(ttl_s=60), Loader()
    load.gate.set()
    assert await cache.get("unknown", load) is None
    assert await cache.get("unknown", load) is None
    assert load.reads == 2
