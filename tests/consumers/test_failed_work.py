"""Long work that fails is never left in flight (RELIABILITY.md bug 10).

A training job whose start fails on a Kafka outage (``BrokerUnavailable`` from the journal's
publish) used to leave its ``StartTraining`` uncommitted and never retried, with the worker still
alive: the job hung for good. Now a retriable failure hands the message to the handler again after
a backoff, past ``retry_attempts`` the worker exits (its partitions move on, nothing committed), and
any other failure dead-letters the message. No Kafka: the loop's dispatch is driven directly.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.loop import Pending, WorkerLoop
from consumers.wire import Delivery
from producers.errors import BrokerUnavailable
from streams.deadletter import Message, Rejected

TP = TopicPartition("qllm.commands.training", 0)


class Dead:
    def __init__(self) -> None:
        self.sent: list[Rejected] = []

    async def send(self, rejected: Rejected) -> None:
        self.sent.append(rejected)


class FailingWork:
    """Each ``handle`` starts work that fails with the next of ``failures``, then succeeds."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.handled = 0

    async def handle(self, message: Message) -> Pending | None:
        self.handled += 1
        failure = self.failures.pop(0) if self.failures else None

        async def work() -> bool:
            await asyncio.sleep(0)
            if failure is not None:
                raise failure
            return True

        return work()

    async def release(self, partitions: set[TopicPartition]) -> None:
        return None

    async def close(self) -> None:
        return None


class IdleConsumer:
    """Stands in for the Kafka consumer: nothing to fetch, nothing to commit."""

    def subscribe(self, topics: list[str], listener: object) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[object]]:
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: object) -> None:
        return None


def loop_with(handler: FailingWork, dead: Dead, attempts: int = 3) -> WorkerLoop:
    worker = WorkerSettings(worker_id="w-failed", retry_attempts=attempts)
    return WorkerLoop("training", [TP.topic], Settings(), worker, handler, dead)  # type: ignore[arg-type]


def outage() -> BrokerUnavailable:
    return BrokerUnavailable("127.0.0.1:9", "no broker answered")


async def settle(loop: WorkerLoop, until: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + until
    while loop._retrying or loop._tasks:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("failed work neither retried nor given up in time")
        await asyncio.sleep(0.05)


async def test_work_failing_on_an_outage_is_started_again_and_then_committed() -> None:
    handler, dead = FailingWork(outage()), Dead()
    loop = loop_with(handler, dead)
    assert await loop.deliver(TP, Delivery(TP.topic, 0, 7, b"job-1", b""), loop.generation)
    await settle(loop)
    assert handler.handled == 2  # the first attempt failed, the second did the work
    assert loop.tracker.position(TP) == 8  # done: committable past it
    assert dead.sent == []


async def test_work_failing_past_the_retry_budget_makes_the_worker_exit_uncommitted() -> None:
    handler, dead = FailingWork(outage(), outage(), outage()), Dead()
    loop = loop_with(handler, dead, attempts=3)
    assert await loop.deliver(TP, Delivery(TP.topic, 0, 7, b"job-1", b""), loop.generation)
    await settle(loop)
    assert handler.handled == 3
    assert loop.tracker.position(TP) == 7  # not past it: the next owner redoes it
    loop._new_consumer = IdleConsumer  # type: ignore[assignment,method-assign]
    with pytest.raises(BrokerUnavailable):
        await asyncio.wait_for(loop.run(asyncio.Event()), 10)  # exits instead of polling on


async def test_work_failing_for_another_reason_is_dead_lettered_with_it() -> None:
    handler, dead = FailingWork(ValueError("bad checkpoint")), Dead()
    loop = loop_with(handler, dead)
    assert await loop.deliver(TP, Delivery(TP.topic, 0, 7, b"job-1", b""), loop.generation)
    await settle(loop)
    assert handler.handled == 1
    assert [(r.error, "bad checkpoint" in r.reason) for r in dead.sent] == [("ValueError", True)]
    assert loop.tracker.position(TP) == 8


async def test_a_revoke_while_failed_work_waits_leaves_it_to_the_next_owner() -> None:
    handler, dead = FailingWork(outage()), Dead()
    loop = loop_with(handler, dead)
    assert await loop.deliver(TP, Delivery(TP.topic, 0, 7, b"job-1", b""), loop.generation)
    await asyncio.sleep(0.1)  # failed; waiting out the backoff
    await loop.revoked({TP})
    await settle(loop)
    assert handler.handled == 1  # not started again here
    assert loop.tracker.position(TP) is None and dead.sent == []
