"""The Redis projection and the pipeline's retries, on the real Redis (store in memory)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from schemas import jobs
from schemas.codec import default_codec
from schemas.records import Event, command
from streams.deadletter import Message, Rejected
from streams.pipeline import EventPipeline, Stored
from streams.projection import Projection, ProjectionKeys
from streams.rebuild import drop_projection, rebuild, restore
from streams.retry import RetryPolicy, TransientError, retrying
from streams.store.base import StoredEvent, StoreUnavailable
from streams.store.memory import MemoryEventStore

pytestmark = pytest.mark.stack
CODEC = default_codec()


def job_events(job_id: str, steps: int = 3) -> list[Event]:
    state, events = jobs.JobState(), []
    plan: list[tuple[type[Any], dict[str, Any]]] = [
        (jobs.StartTraining, {"owner": "ann", "model_id": "m", "preset": "t", "max_steps": steps}),
        (jobs.ClaimJob, {"worker_id": "w1"}),
        (jobs.MarkJobRunning, {"worker_id": "w1"}),
        *[(jobs.RecordTrainingStep, {"step": i, "loss": 1.0 / i}) for i in range(1, steps + 1)],
    ]
    for cls, payload in plan:
        for event in jobs.decide(state, command(cls, job_id, "ann", **payload)):
            state = jobs.evolve(state, event)
            events.append(event)
    return events


def items(events: list[Event]) -> list[tuple[Event, bytes]]:
    return [(e, CODEC.encode(e)) for e in events]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def keys(redis: Redis, unique: str) -> AsyncIterator[ProjectionKeys]:
    yield ProjectionKeys(f"test-{unique}")
    await drop_projection(redis, ProjectionKeys(f"test-{unique}"))


async def listen(redis: Redis, channel: str) -> Any:
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    while (await pubsub.get_message(timeout=5.0) or {}).get("type") != "subscribe":
        pass
    return pubsub


async def heard(pubsub: Any, count: int) -> list[int]:
    """The ``seq`` of what the channel carried: ``count`` messages, and any extra one."""
    seqs: list[int] = []
    while True:
        timeout = 5.0 if len(seqs) < count else 0.3
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        if message is None:
            return seqs
        seqs.append(CODEC.decode(message["data"]).seq)


async def test_a_batch_lands_as_the_folded_state_and_each_event_is_published_once_in_order(
    redis: Redis, keys: ProjectionKeys
) -> None:
    events = job_events(f"job-{uuid.uuid4().hex}")
    projection = Projection(redis, keys, MemoryEventStore(), CODEC)
    pubsub = await listen(redis, keys.live(events[0].stream_id))
    outcome = await projection.apply(items(events[:4]))
    again = await projection.apply(items(events[2:]))
    assert (outcome.applied, again.applied, again.duplicates) == (4, 2, 2)
    assert await heard(pubsub, len(events)) == [e.seq for e in events]
    seq, state = await projection.current(events[0].stream_id)
    expected = jobs.JobState()
    for event in events:
        expected = jobs.evolve(expected, event)  # type: ignore[arg-type]
    assert (seq, state) == (len(events), expected)
    assert await redis.zrange(keys.owner("ann", "job"), 0, -1) == [events[0].stream_id.encode()]
    await pubsub.aclose()


class _RacingStore(MemoryEventStore):
    """Its catch-up read lets another projection apply the events first (a rebalance)."""

    def __init__(self, rival: Projection | None = None) -> None:
        super().__init__()
        self.rival = rival

    async def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        stored = await super().read_stream(stream_id, after_seq)
        if self.rival is not None:
            rival, self.rival = self.rival, None
            await rival.apply(items([CODEC.decode(e.payload) for e in stored]))  # type: ignore[misc]
        return stored


async def test_a_stream_moved_under_the_writer_is_folded_again_not_a_crash(
    redis: Redis, keys: ProjectionKeys
) -> None:
    events = job_events(f"job-{uuid.uuid4().hex}")
    store = _RacingStore()
    await store.append([StoredEvent.of(e, p) for e, p in items(events)])
    writer = Projection(redis, keys, store, CODEC)
    await writer.apply(items(events[:1]))
    store.rival = Projection(redis, keys, MemoryEventStore(), CODEC)
    pubsub = await listen(redis, keys.live(events[0].stream_id))
    outcome = await writer.apply(items(events[4:]))  # a gap: catch-up, during which the rival wins
    assert outcome.unapplied == [] and outcome.applied == 0
    assert outcome.duplicates == len(events) - 4
    assert (await projection_seq(writer, events[0].stream_id)) == len(events)
    assert await heard(pubsub, len(events) - 1) == [e.seq for e in events[1:]]  # once each
    await pubsub.aclose()


async def projection_seq(projection: Projection, stream_id: str) -> int:
    return (await projection.current(stream_id))[0]


async def test_a_gap_the_store_cannot_fill_is_unapplied_with_its_reason(
    redis: Redis, keys: ProjectionKeys
) -> None:
    events = job_events(f"job-{uuid.uuid4().hex}")
    projection = Projection(redis, keys, MemoryEventStore(), CODEC, first_pause_s=0.001)
    await projection.apply(items(events[:1]))
    outcome = await projection.apply(items(events[3:5]))
    assert [u.event.seq for u in outcome.unapplied] == [4, 5]
    assert "lacks" in outcome.unapplied[0].reason and "blocked" in outcome.unapplied[1].reason
    assert await projection_seq(projection, events[0].stream_id) == 1


class _FlakyStore(MemoryEventStore):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def append(self, events: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("cassandra:9042", "down for the test")
        return await super().append(events)


class _Letters:
    def __init__(self) -> None:
        self.sent: list[Rejected] = []

    async def send(self, rejected: Rejected) -> None:
        self.sent.append(rejected)


async def test_the_pipeline_waits_out_a_store_outage_and_then_stores_and_projects(
    redis: Redis, keys: ProjectionKeys
) -> None:
    events = job_events(f"job-{uuid.uuid4().hex}")
    store, letters = _FlakyStore(failures=3), _Letters()
    projection = Projection(redis, keys, store, CODEC)
    policy = RetryPolicy(first_delay_s=0.001, max_delay_s=0.01)
    pipeline = EventPipeline(CODEC, store, projection, letters, policy)
    messages = [Message("t", 0, i, None, p) for i, (_, p) in enumerate(items(events))]
    outcome = await pipeline.handle(messages)
    assert (outcome.stored, outcome.projected, outcome.dead_lettered) == (len(events),) * 2 + (0,)
    assert store.failures == 0 and letters.sent == []


async def test_retrying_gives_up_after_the_policys_attempts_and_passes_other_errors_at_once() -> (
    None
):
    calls: list[str] = []

    async def outage() -> None:
        calls.append("outage")
        raise TransientError("still moving")

    async def bug() -> None:
        calls.append("bug")
        raise KeyError("a bug is not retried")

    policy = RetryPolicy(first_delay_s=0.001, max_delay_s=0.002, max_attempts=3)
    with pytest.raises(TransientError):
        await retrying(policy, outage, "outage")
    with pytest.raises(KeyError):
        await retrying(policy, bug, "bug")
    assert calls == ["outage"] * 3 + ["bug"]
    assert [RetryPolicy(0.1, 0.5).delay(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.5]


@dataclass(frozen=True, kw_only=True, slots=True)
class _StrayHappened(Event):
    """An event of a stream kind no aggregate folds (a newer producer's, say)."""

    note: str = ""


async def test_an_event_of_an_unknown_stream_kind_is_dead_lettered_and_the_batch_goes_on(
    redis: Redis, keys: ProjectionKeys
) -> None:
    events = job_events(f"job-{uuid.uuid4().hex}", steps=1)
    stray = _StrayHappened(event_id=str(uuid.uuid4()), stream_id="stray-1", seq=1,
                           occurred_at=events[0].occurred_at, actor="x")  # fmt: skip
    letters = _Letters()
    pipeline = EventPipeline(CODEC, MemoryEventStore(), Projection(redis, keys,
                             MemoryEventStore(), CODEC), letters)  # fmt: skip
    batch = [(e, Message("t", 0, i, e.stream_id.encode(), CODEC.encode(e)))
             for i, e in enumerate(events)]  # fmt: skip
    stray_message = Message("t", 0, 99, b"stray-1", b"stray bytes")
    outcome = await pipeline.project(
        Stored(len(events) + 1, 0, [(stray, stray_message), *batch], [])
    )
    assert outcome.projected == len(events)
    [letter] = letters.sent
    assert letter.message is stray_message and letter.error == "Unapplied"
    assert "no projected stream kind" in letter.reason and "_StrayHappened" in letter.reason
    assert await redis.hget(keys.stream(events[0].stream_id), "seq") == str(len(events)).encode()


async def test_a_stream_projected_live_during_the_drop_is_listed_again_by_the_rebuild(
    redis: Redis, keys: ProjectionKeys
) -> None:
    """Bug 7: the drop deleted a stream's hash, the processor projected the stream again (hash
    and lists), then the drop deleted the lists; the rebuild that follows must list it again."""
    events = job_events(f"job-{uuid.uuid4().hex}")
    store = MemoryEventStore()
    await store.append([StoredEvent.of(e, CODEC.encode(e)) for e in events])
    await Projection(redis, keys, store, CODEC).apply(items(events))  # the live processor
    await redis.delete(keys.owner("ann", "job"), keys.by_time("job"))  # the drop, reaching lists
    assert await restore(store, redis, keys, CODEC) == 1
    fresh = ProjectionKeys(f"{keys.prefix}-fresh")
    try:
        assert await rebuild(store, redis, fresh, CODEC) == 1
        for listed in (lambda k: k.owner("ann", "job"), lambda k: k.by_time("job")):
            assert await redis.zrange(listed(keys), 0, -1, withscores=True) == await redis.zrange(
                listed(fresh), 0, -1, withscores=True
            ) == [(events[0].stream_id.encode(), float(int(events[0].occurred_at.timestamp()
                                                              * 1_000_000)))]  # fmt: skip
        assert await projection_seq(
            Projection(redis, keys, store, CODEC), events[0].stream_id
        ) == len(events)
    finally:
        await drop_projection(redis, fresh)
