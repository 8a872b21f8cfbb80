"""What the servers hold after a scenario, counted against what the load had acknowledged.

``Counts`` is the line each scenario asserts and prints (RELIABILITY.md records it): ``lost`` =
acknowledged events missing from Cassandra or not applied in Redis; ``duplicated`` = an event
stored at two ``seq``s, a stream that is not contiguous from 1, a foreign event, an event listed
twice in the time index, or an event published twice on its live channel (each applied event is
published exactly once by the projection's script, so a second copy is a second effect).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from compose.settings import Settings
from schemas.catalog import aggregate_of
from schemas.codec import default_codec
from schemas.records import Event, utc_now
from schemas.snapshot import to_json
from streams.projection import Projection, ProjectionKeys
from streams.store.base import StoredEvent
from streams.store.cassandra import CassandraEventStore, StoreOptions

CODEC = default_codec()


@dataclass(frozen=True)
class Counts:
    scenario: str
    sent: int
    accepted: int
    stored: int
    applied: int
    lost: int
    duplicated: int
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        more = "".join(f" {k}={v}" for k, v in self.extra.items())
        return (f"RELIABILITY {self.scenario}: sent={self.sent} accepted={self.accepted} "
                f"stored={self.stored} applied={self.applied} lost={self.lost} "
                f"duplicated={self.duplicated}{more}")  # fmt: skip


@asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[CassandraEventStore]:
    store = await CassandraEventStore.open(StoreOptions.from_settings(settings, strict=False))
    try:
        yield store
    finally:
        await store.close()


async def projected(redis: Redis, settings: Settings, stream_id: str) -> tuple[int, Any]:
    keys = ProjectionKeys.from_settings(settings)
    return await Projection(redis, keys, None, CODEC).current(stream_id)  # type: ignore[arg-type]


async def until_projected(
    redis: Redis, settings: Settings, expected: dict[str, list[Event]], timeout_s: float
) -> None:
    """Wait until Redis holds every stream at its last expected ``seq``."""
    deadline = time.monotonic() + timeout_s
    keys = ProjectionKeys.from_settings(settings)
    while True:
        async with redis.pipeline(transaction=False) as pipe:
            for stream_id in expected:
                pipe.hget(keys.stream(stream_id), "seq")
            heads = await pipe.execute()
        behind = [s for (s, events), seq in zip(expected.items(), heads, strict=True)
                  if int(seq or 0) != events[-1].seq]  # fmt: skip
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(behind)} streams not projected in {timeout_s}s: {behind[:5]}")
        await asyncio.sleep(0.2)


@dataclass
class Audit:
    stored: int = 0
    applied: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)


async def audit(
    store: CassandraEventStore, redis: Redis, settings: Settings,
    expected: dict[str, list[Event]], live: Counter[tuple[str, int]] | None = None,
) -> Audit:  # fmt: skip
    """Cassandra and Redis against the acknowledged events, stream by stream."""
    found = Audit()
    since = min(e.occurred_at for events in expected.values() for e in events)
    indexed = Counter(
        e.event_id
        for e in await store.read_time_range(since - timedelta(seconds=1), _later())
        if e.stream_id in expected
    )
    for stream_id, events in expected.items():
        stored = await store.read_stream(stream_id)
        found.stored += len(stored)
        _compare_stream(stream_id, events, stored, found)
        for event in events:
            times = indexed[event.event_id]
            if times != 1:
                found.duplicated.append(f"{event.event_id} in the time index x{times}")
            published = live[(stream_id, event.seq)] if live is not None else 1
            if published != 1:
                found.duplicated.append(f"{stream_id}@{event.seq} on the live channel x{published}")
        seq, state = await projected(redis, settings, stream_id)
        if seq != len(stored) or to_json(state) != to_json(replay(stored)):
            found.lost.append(f"{stream_id}: projection at {seq} differs from the replay")
        found.applied += seq
    return found


def _compare_stream(
    stream_id: str, events: list[Event], stored: list[StoredEvent], found: Audit
) -> None:
    ids = [e.event_id for e in stored]
    if [e.seq for e in stored] != list(range(1, len(stored) + 1)):
        found.duplicated.append(f"{stream_id} not contiguous: {[e.seq for e in stored]}")
    for event_id, times in Counter(ids).items():
        if times > 1:
            found.duplicated.append(f"{stream_id}: {event_id} stored {times} times")
    wanted = {e.event_id for e in events}
    found.lost += [f"{stream_id}: {e.event_id} (seq {e.seq}) missing" for e in events
                   if e.event_id not in set(ids)]  # fmt: skip
    found.duplicated += [f"{stream_id}: foreign {i}" for i in ids if i not in wanted]
    for mine, theirs in zip(events, stored, strict=False):
        if CODEC.encode(mine) != theirs.payload:
            found.lost.append(f"{stream_id}@{mine.seq}: stored bytes differ from those sent")


def replay(stored: list[StoredEvent]) -> Any:
    """Fold a stored stream from its bytes, as an auditor would."""
    events = [CODEC.decode(e.payload) for e in stored]
    aggregate = aggregate_of(events[0])  # type: ignore[arg-type]
    state = aggregate.initial()
    for event in events:
        state = aggregate.evolve(state, event)  # type: ignore[arg-type]
    return state


def _later() -> datetime:
    return utc_now() + timedelta(hours=1)


class LiveChannels:
    """Counts every event the projection publishes on ``<prefix>:live:*`` by ``(stream, seq)``."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis, self._pattern = redis, f"{ProjectionKeys.from_settings(settings).live('*')}"
        self.seen: Counter[tuple[str, int]] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveChannels:
        pubsub = self._redis.pubsub()
        await pubsub.psubscribe(self._pattern)
        self._task = asyncio.create_task(self._listen(pubsub))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _listen(self, pubsub: Any) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message["type"] == "pmessage":
                    event = CODEC.decode(message["data"])
                    self.seen[(event.stream_id, event.seq)] += 1
        finally:
            await pubsub.aclose()


async def snapshot(redis: Redis, prefix: str) -> dict[str, Any]:
    """Every projection key under ``prefix`` (prefix stripped) with its hash or sorted set."""
    found: dict[str, Any] = {}
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        kind = await redis.type(key)
        value = await (
            redis.hgetall(key) if kind == b"hash" else redis.zrange(key, 0, -1, withscores=True)
        )
        found[key.decode()[len(prefix) :]] = value
    return found


async def applied_total(redis: Redis, settings: Settings, stream_ids: list[str]) -> int:
    """The sum of the projected heads: how many events Redis has applied so far."""
    keys = ProjectionKeys.from_settings(settings)
    async with redis.pipeline(transaction=False) as pipe:
        for stream_id in stream_ids:
            pipe.hget(keys.stream(stream_id), "seq")
        return sum(int(seq or 0) for seq in await pipe.execute())


async def until_applied(
    redis: Redis, settings: Settings, stream_ids: list[str], at_least: int, timeout_s: float
) -> int:
    deadline = time.monotonic() + timeout_s
    while (total := await applied_total(redis, settings, stream_ids)) < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {total} of {at_least} events applied in {timeout_s}s")
        await asyncio.sleep(0.1)
    return total


async def committed(settings: Settings, group: str) -> int:
    """The sum of a consumer group's committed offsets (messages consumed, from offset 0)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(max(0, meta.offset) for meta in offsets.values())


async def until_committed(settings: Settings, group: str, at_least: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while (total := await committed(settings, group)) < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{group} committed only {total} of {at_least} in {timeout_s}s")
        await asyncio.sleep(0.2)
    return total
