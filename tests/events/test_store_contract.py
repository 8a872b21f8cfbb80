"""The event-store contract, run against the in-memory store and against Cassandra in both append
modes (fast: read, classify, plain writes; strict: lightweight transactions)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from compose.settings import Settings
from streams.store.base import ConcurrencyError, EventStore, SequenceGap, StoredEvent
from streams.store.cassandra import CassandraEventStore, StoreOptions
from streams.store.memory import MemoryEventStore


@pytest.fixture(params=["memory", "cassandra-fast", "cassandra-strict"])
async def store(request: Any, unique: str) -> AsyncIterator[EventStore]:
    if request.param == "memory":
        yield MemoryEventStore()
        return
    request.getfixturevalue("cassandra_contact")
    settings: Settings = request.getfixturevalue("settings")
    options = StoreOptions.from_settings(
        settings,
        keyspace="qllm_events_contract",
        partition_size=3,
        strict=request.param == "cassandra-strict",
    )
    cassandra = await CassandraEventStore.open(options)
    yield cassandra
    await cassandra.close()


def _events(stream: str, first: int, last: int, at: datetime | None = None) -> list[StoredEvent]:
    at = at or datetime(2024, 1, 1, tzinfo=UTC)
    return [
        StoredEvent(
            stream,
            seq,
            str(uuid.uuid4()),
            "JobRunning",
            at + timedelta(microseconds=seq * 7),
            f"payload-{seq}".encode(),
        )
        for seq in range(first, last + 1)
    ]


async def test_appended_events_read_back_exactly_in_order_across_partitions(
    store: EventStore, unique: str
) -> None:
    events = _events(f"job-{unique}", 1, 8)  # partition size 3 on Cassandra: three partitions
    result = await store.append(events[:5])
    result2 = await store.append(events[5:])
    assert (result.written, result2.written) == (5, 3)
    assert await store.read_stream(f"job-{unique}") == events
    assert await store.read_stream(f"job-{unique}", after_seq=3) == events[3:]
    assert await store.read_stream(f"job-{unique}", after_seq=8) == []
    assert await store.head(f"job-{unique}") == 8


async def test_redelivery_writes_nothing_new(store: EventStore, unique: str) -> None:
    events = _events(f"job-{unique}", 1, 4)
    await store.append(events)
    again = await store.append(events)
    partly = await store.append(events[2:] + _events(f"job-{unique}", 5, 5))
    assert (again.written, again.duplicates) == (0, 4)
    assert (partly.written, partly.duplicates) == (1, 2)
    assert [e.seq for e in await store.read_stream(f"job-{unique}")] == [1, 2, 3, 4, 5]


async def test_conflicting_event_at_a_stored_seq_is_reported_not_overwritten(
    store: EventStore, unique: str
) -> None:
    events = _events(f"job-{unique}", 1, 2)
    await store.append(events)
    impostor = _events(f"job-{unique}", 2, 2)
    with pytest.raises(ConcurrencyError) as raised:
        await store.append(impostor)
    assert (raised.value.seq, raised.value.stored_id) == (2, events[1].event_id)
    assert await store.read_stream(f"job-{unique}") == events


async def test_a_gap_in_seq_is_refused(store: EventStore, unique: str) -> None:
    await store.append(_events(f"job-{unique}", 1, 2))
    with pytest.raises(SequenceGap) as raised:
        await store.append(_events(f"job-{unique}", 4, 5))
    assert (raised.value.expected, raised.value.offered) == (3, 4)
    assert await store.head(f"job-{unique}") == 2


async def test_a_second_writer_with_a_stale_head_gets_a_concurrency_error(
    store: EventStore, unique: str, request: Any
) -> None:
    stream = f"job-{unique}"
    await store.append(_events(stream, 1, 1))
    if isinstance(store, CassandraEventStore):  # a second process: its own head cache
        other: Any = await CassandraEventStore.open(store.options)
    else:
        other = store
    await other.head(stream)
    await store.append(_events(stream, 2, 3))
    with pytest.raises(ConcurrencyError):
        await other.append(_events(stream, 2, 2))
    if other is not store:
        await other.close()


async def test_time_range_returns_every_stream_in_time_order(store: EventStore) -> None:
    base = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(hours=random.randrange(200_000))
    a = _events(f"a-{uuid.uuid4().hex}", 1, 3, base)
    b = _events(f"b-{uuid.uuid4().hex}", 1, 2, base + timedelta(hours=1, microseconds=3))
    for events in (a, b):
        await store.append(events)
    found = await store.read_time_range(base, base + timedelta(hours=2))
    assert found == sorted(a + b, key=lambda e: e.occurred_at)
    assert await store.read_time_range(base, a[2].occurred_at) == a[:2]


async def test_stream_ids_lists_every_stream(store: EventStore, unique: str) -> None:
    await store.append(_events(f"x-{unique}", 1, 4))
    assert f"x-{unique}" in await store.stream_ids()


async def test_a_batch_holding_a_conflict_writes_none_of_its_events(
    store: EventStore, unique: str
) -> None:
    stream = f"job-{unique}"
    events = _events(stream, 1, 2)
    await store.append(events)
    offered = [*_events(stream, 2, 2), *_events(stream, 3, 4)]  # seq 2 is another event's
    with pytest.raises(ConcurrencyError):
        await store.append(offered)
    assert await store.read_stream(stream) == events


async def test_appends_that_cross_a_partition_boundary_keep_duplicates_and_new_apart(
    store: EventStore, unique: str
) -> None:
    stream = f"job-{unique}"
    events = _events(stream, 1, 7)  # partition size 3 on Cassandra: [1-3] [4-6] [7]
    await store.append(events[:2])
    result = await store.append(events[1:7])
    assert (result.written, result.duplicates) == (5, 1)
    assert await store.read_stream(stream) == events


async def test_concurrent_appends_to_many_streams_all_read_back(
    store: EventStore, unique: str
) -> None:
    streams = [f"job-{unique}-{i}" for i in range(30)]
    batches = {s: _events(s, 1, 5) for s in streams}
    await asyncio.gather(*(store.append(b[:2]) for b in batches.values()))
    results = await asyncio.gather(*(store.append(b[1:]) for b in batches.values()))
    assert {(r.written, r.duplicates) for r in results} == {(3, 1)}
    for stream, events in batches.items():
        assert await store.read_stream(stream) == events


async def test_concurrent_appends_each_see_only_their_own_stream_and_range(
    store: EventStore, unique: str
) -> None:
    """Appends in flight together (whose reads the fast mode shares) classify independently: a
    duplicate, a conflict, a gap and new events at different heads, across partitions."""
    streams = [f"job-{unique}-{i}" for i in range(40)]
    stored = {s: _events(s, 1, 1 + i % 7) for i, s in enumerate(streams)}
    await asyncio.gather(*(store.append(events) for events in stored.values()))
    dup, clash, gap, *fresh = streams
    offered = {s: _events(s, len(stored[s]) + 1, len(stored[s]) + 2) for s in fresh}
    offered[dup] = stored[dup][-1:]
    offered[clash] = _events(clash, 1, 1)
    offered[gap] = _events(gap, len(stored[gap]) + 2, len(stored[gap]) + 2)
    results = await asyncio.gather(
        *(store.append(events) for events in offered.values()), return_exceptions=True
    )
    outcome = dict(zip(offered, results, strict=True))
    assert isinstance(outcome[clash], ConcurrencyError)
    assert isinstance(outcome[gap], SequenceGap)
    assert (outcome[dup].written, outcome[dup].duplicates) == (0, 1)  # type: ignore[union-attr]
    assert {(outcome[s].written, outcome[s].duplicates) for s in fresh} == {(2, 0)}  # type: ignore[union-attr]
    for s in fresh:
        assert await store.read_stream(s) == stored[s] + offered[s]
    assert await store.read_stream(clash) == stored[clash]
