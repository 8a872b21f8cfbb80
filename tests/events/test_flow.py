"""The agent's batching loop (``streams.flow``): overlap, stream order, acks after both steps."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from streams.deadletter import Message
from streams.flow import Intake, Offsets, run_pipelined
from streams.pipeline import BatchOutcome, Stored

Key = tuple[str, int]  # (stream, seq)


def messages(streams: int, per_stream: int, partitions: int = 2) -> list[Message]:
    """Interleaved events of ``streams`` streams; a stream's events share one partition."""
    out: list[Message] = []
    next_offset = [0] * partitions
    for seq in range(1, per_stream + 1):
        for s in range(streams):
            p = s % partitions
            out.append(Message("events", p, next_offset[p], f"s{s}".encode(), str(seq).encode()))
            next_offset[p] += 1
    return out


def key(m: Message) -> Key:
    return (m.key or b"").decode(), int(m.value)


class RecordingStages:
    """Stages that record when each event is durable in 'Cassandra' and applied to 'Redis', and
    check the order at every step; ``project_gate`` holds a batch's project until it is set."""

    def __init__(self, store_s: float = 0.0, project_s: float = 0.0) -> None:
        self.store_s, self.project_s = store_s, project_s
        self.durable: set[Key] = set()
        self.applied: dict[str, int] = {}
        self.violations: list[str] = []
        self.batches: list[int] = []
        self.log: list[str] = []
        self._pending: list[list[Message]] = []
        self.project_gate: asyncio.Event | None = None

    async def store(self, batch: Sequence[Message]) -> Stored:
        n = len(self.batches)
        self.batches.append(len(batch))
        self.log.append(f"store {n} start")
        await asyncio.sleep(self.store_s)
        self.durable.update(key(m) for m in batch)
        self.log.append(f"store {n} end")
        self._pending.append(list(batch))
        return Stored(len(batch), 0, [], [])

    async def project(self, stored: Stored) -> BatchOutcome:
        batch = self._pending.pop(0)
        self.log.append("project start")
        if self.project_gate is not None:
            await asyncio.wait_for(self.project_gate.wait(), 5)
        for m in batch:
            await asyncio.sleep(self.project_s / max(1, len(batch)))
            stream, seq = key(m)
            if (stream, seq) not in self.durable:
                self.violations.append(f"{stream}@{seq} applied before its store write")
            if seq != self.applied.get(stream, 0) + 1:
                self.violations.append(f"{stream}@{seq} applied after {self.applied.get(stream)}")
            self.applied[stream] = seq
        self.log.append("project end")
        return BatchOutcome(len(batch), 0, len(batch), 0)


class Acks:
    def __init__(self, stages: RecordingStages) -> None:
        self.stages = stages
        self.acked: list[Message] = []

    async def __call__(self, batch: Sequence[Message]) -> None:
        for m in batch:
            stream, seq = key(m)
            if (stream, seq) not in self.stages.durable:
                self.stages.violations.append(f"{stream}@{seq} acked before its store write")
            if self.stages.applied.get(stream, 0) < seq:
                self.stages.violations.append(f"{stream}@{seq} acked before its Redis apply")
            self.acked.append(m)


async def feed(intake: Intake[Message], items: list[Message], pause_every: int = 0) -> None:
    for i, item in enumerate(items):
        await intake.put(item)
        if pause_every and i % pause_every == 0:
            await asyncio.sleep(0.001)
    intake.close()


async def run(
    stages: RecordingStages, items: list[Message], max_batch: int = 50, limit: int = 200,
    pause_every: int = 0,
) -> tuple[Acks, Offsets]:  # fmt: skip
    intake: Intake[Message] = Intake(limit)
    acks, offsets = Acks(stages), Offsets()
    pipelined = run_pipelined(intake, stages, lambda m: m, acks, max_batch, 0.001, offsets)
    await asyncio.gather(pipelined, feed(intake, items, pause_every))
    return acks, offsets


async def test_redis_applies_follow_the_store_write_in_stream_order_and_acks_follow_both() -> None:
    stages = RecordingStages(store_s=0.003, project_s=0.004)
    items = messages(streams=7, per_stream=40)
    acks, offsets = await run(stages, items, max_batch=23, pause_every=5)
    assert stages.violations == []
    assert len(stages.batches) > 3  # several batches, so several overlaps were exercised
    assert stages.applied == {f"s{s}": 40 for s in range(7)}
    for partition in (0, 1):
        acked = [m.offset for m in acks.acked if m.partition == partition]
        assert acked == sorted(acked) == list(range(len(acked)))
        assert offsets.done[("events", partition)] == acked[-1]


async def test_the_next_batch_is_stored_while_the_previous_one_is_projected() -> None:
    stages = RecordingStages()
    stages.project_gate = asyncio.Event()
    intake: Intake[Message] = Intake(100)
    items = messages(streams=2, per_stream=4)
    acks = Acks(stages)

    async def open_gate_when_batch_1_is_stored() -> None:
        for item in items[:4]:
            await intake.put(item)
        while "store 0 end" not in stages.log:
            await asyncio.sleep(0)
        for item in items[4:]:
            await intake.put(item)
        while "store 1 end" not in stages.log:
            await asyncio.sleep(0.001)  # project 0 is held: only an overlap gets here
        assert acks.acked == []  # batch 0 is stored but not projected: nothing acked yet
        stages.project_gate.set()  # type: ignore[union-attr]
        intake.close()

    pipelined = run_pipelined(intake, stages, lambda m: m, acks, 4, 0.0)
    await asyncio.wait_for(asyncio.gather(pipelined, open_gate_when_batch_1_is_stored()), 5)
    assert stages.log.index("store 1 start") < stages.log.index("project end")
    assert stages.violations == [] and len(acks.acked) == len(items)


async def test_under_a_backlog_a_batch_takes_everything_queued_up_to_the_bound() -> None:
    stages = RecordingStages(store_s=0.05)
    items = messages(streams=50, per_stream=40)  # 2,000 events, fed 10 at a time
    await run(stages, items, max_batch=400, limit=4_000, pause_every=10)
    assert stages.batches[0] < 100  # an idle loop takes what came within its window
    assert max(stages.batches) == 400  # then what queued while batches were in flight, bounded
    assert sum(stages.batches) == len(items)


async def test_a_failed_projection_acks_nothing_of_its_batch_or_later_and_ends_the_loop() -> None:
    stages = RecordingStages()
    calls = 0
    project = stages.project

    async def failing(stored: Stored) -> BatchOutcome:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("redis gone")
        return await project(stored)

    stages.project = failing  # type: ignore[method-assign]
    intake: Intake[Message] = Intake(1_000)
    items = messages(streams=3, per_stream=10)
    acks = Acks(stages)
    for item in items:
        await intake.put(item)
    with pytest.raises(RuntimeError, match="redis gone"):
        await asyncio.wait_for(run_pipelined(intake, stages, lambda m: m, acks, 6, 0.0), 5)
    assert [m.offset for m in acks.acked] == [m.offset for m in items[:6]]
    with pytest.raises(RuntimeError):
        await intake.put(items[0])  # the consumer side stops too


async def test_the_intake_holds_the_consumer_back_at_its_limit() -> None:
    intake: Intake[int] = Intake(3)
    for i in range(3):
        await intake.put(i)
    blocked = asyncio.create_task(intake.put(3))
    await asyncio.sleep(0.01)
    assert not blocked.done() and len(intake) == 3
    assert await intake.take(2, 0.0) == [0, 1]
    await asyncio.wait_for(blocked, 1)
    assert await intake.take(10, 0.0) == [2, 3]
