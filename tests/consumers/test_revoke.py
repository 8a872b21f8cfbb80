"""A revoke never leaves work running, nor commits a command whose job has not ended (bug 5).

No Kafka: the loop's dispatch and revoke are driven directly, the way aiokafka's coordinator task
(revoke listener) and the poll loop (dispatch) interleave on one event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import TopicPartition

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.journal import Folded
from consumers.loop import Pending, WorkerLoop
from consumers.training.job import RunningJob
from consumers.training.run import JobSpec
from consumers.training.worker import TrainingHandler
from consumers.wire import Delivery
from schemas.codec import default_codec
from schemas.jobs import StartTraining
from schemas.records import command
from streams.deadletter import Message, Rejected

TP = TopicPartition("qllm.commands.training", 0)


class NoDeadLetters:
    async def send(self, rejected: Rejected) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {rejected}")


class SlowStartHandler:
    """Starts a job per message once ``gate`` opens; a revoke stops the partition's jobs."""

    def __init__(self) -> None:
        self.gate, self.entered = asyncio.Event(), asyncio.Event()
        self.running: dict[TopicPartition, asyncio.Future[bool]] = {}
        self.handled: list[int] = []

    async def handle(self, message: Message) -> Pending | None:
        self.entered.set()
        await self.gate.wait()  # loading the job's stream, claiming it …
        self.handled.append(message.offset)
        job = asyncio.get_running_loop().create_future()
        self.running[TopicPartition(message.topic, message.partition)] = job
        return job

    async def release(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            job = self.running.pop(tp, None)
            if job is not None:
                job.set_result(False)  # interrupted: its command stays uncommitted

    async def close(self) -> None:
        return None


def loop_with(handler: object) -> WorkerLoop:
    worker = WorkerSettings(worker_id="w-revoke")
    return WorkerLoop("training", [TP.topic], Settings(), worker, handler, NoDeadLetters())  # type: ignore[arg-type]


def delivery(offset: int, value: bytes = b"") -> Delivery:
    return Delivery(TP.topic, TP.partition, offset, b"job-1", value)


async def test_a_revoke_during_a_dispatch_stops_the_job_that_dispatch_starts() -> None:
    handler = SlowStartHandler()
    loop = loop_with(handler)
    dispatching = asyncio.create_task(loop.deliver(TP, delivery(0), loop.generation))
    await handler.entered.wait()
    revoking = asyncio.create_task(loop.revoked({TP}))
    await asyncio.sleep(0.05)
    handler.gate.set()
    await asyncio.wait_for(asyncio.gather(dispatching, revoking), 5)
    assert handler.handled == [0]
    assert handler.running == {}  # no zombie job left on a partition this worker gave up
    assert loop.tracker.position(TP) is None  # nothing of the partition is committable here


async def test_messages_fetched_before_a_revoke_are_not_dispatched_after_it() -> None:
    handler = SlowStartHandler()
    handler.gate.set()
    loop = loop_with(handler)
    fetched_at = loop.generation
    await loop.revoked({TP})
    assert await loop.deliver(TP, delivery(0), fetched_at) is False
    assert handler.handled == []
    assert await loop.deliver(TP, delivery(0), loop.generation) is True  # fetched after it
    assert handler.handled == [0]


async def test_start_training_redelivered_to_the_worker_running_the_job_stays_uncommitted(
    tmp_path: Path,
) -> None:
    """A redelivered ``StartTraining`` is held until its job ends, and is never committed if the
    job is interrupted (revoked or fenced off) rather than finished."""
    codec = default_codec()
    start = command(StartTraining, "job-1", "ann", owner="ann", model_id="m-1", preset="tiny",
                    max_steps=10)  # fmt: skip
    worker = WorkerSettings(worker_id="w-revoke", checkpoint_url=str(tmp_path / "checkpoints"))
    handler = TrainingHandler(None, codec, worker)  # type: ignore[arg-type]  # no journal read
    ended = asyncio.Event()

    async def job_run() -> bool:
        await ended.wait()
        return False  # fenced off / revoked: not done

    spec = JobSpec("job-1", "tiny", 10, tmp_path / "work")
    job = RunningJob(spec, Folded(None), TP, asyncio.Lock())
    job.task = asyncio.create_task(job_run())
    handler.jobs["job-1"] = job
    loop = loop_with(handler)
    assert await loop.deliver(TP, delivery(0, codec.encode(start)), loop.generation)
    assert loop.tracker.position(TP) == 0  # held while the job runs
    ended.set()
    await job.task
    await asyncio.sleep(0)
    assert loop.tracker.position(TP) == 0  # the job did not finish: its command stays in flight
    assert loop.tracker.pending() == {TP: 0}
