"""The consumer loop every worker runs: poll, hand each message to a handler, commit, repeat.

Visible order (STYLE.md, aiokafka anchors): decode and apply in the handler, the effect is
durable when the handler (or the work it started) finishes, only then is ``offset + 1``
committed. Explicit consumer options: ``enable_auto_commit=False``, ``auto_offset_reset
="earliest"`` (a new group reads what was written before it joined), bounded session timeouts.

- A handler returns ``None`` when the message is done, or a task for long work (a training job):
  the message stays in flight, later messages of the partition go on being read (control commands
  for the running job), and the partition commits no further than its oldest in-flight message
  (``offsets.OffsetTracker``). The task returns False when the work was interrupted (shutdown,
  revoke): the message is then left uncommitted for the next owner.
- ``Poison`` and any other non-retriable error → dead letter with the reason, and on. Retriable
  infrastructure errors (Kafka, Cassandra unavailable) are retried with backoff, then the worker
  exits: its partitions move to a healthy member, nothing is committed past the failure. The same
  holds for long work that fails: a retriable failure hands the message to the handler again after
  a backoff (a training job resumes from its checkpoint), past ``retry_attempts`` the worker exits;
  any other failure dead-letters the message. Failed work is never just left in flight.
- Rebalance: a listener logs the partitions owned, and before giving partitions away lets the
  handler stop their work (checkpoint) and commits what is done. A revoke waits for the message
  being dispatched (so work it starts is seen and stopped, never left running as a zombie), and
  the rest of a batch fetched before a revoke is dropped: the partitions' next owner (maybe this
  worker again) reads it from the committed offsets.
- Stop (SIGTERM): the handler checkpoints running work, the loop commits, leaves the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.errors import Poison
from consumers.offsets import OffsetTracker
from consumers.wire import Delivery
from producers.errors import ProducerError
from streams.deadletter import DeadLetters, Message, Rejected
from streams.store.base import StoreUnavailable

log = logging.getLogger("consumers")

Pending = Awaitable[bool]


class Handler(Protocol):
    async def handle(self, message: Message) -> Pending | None: ...

    async def release(self, partitions: set[TopicPartition]) -> None: ...

    async def close(self) -> None: ...


def is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, ProducerError):
        return exc.retriable
    return isinstance(exc, StoreUnavailable | ConnectionError | TimeoutError)


def describe(partitions: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(partitions)) or "none"


class _Listener(ConsumerRebalanceListener):
    def __init__(self, loop: WorkerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s worker %s owns %s", self._loop.role, self._loop.worker.worker_id,
                 describe(assigned))  # fmt: skip
        self._loop.owned = set(assigned)


class WorkerLoop:
    def __init__(
        self,
        role: str,
        topics: list[str],
        settings: Settings,
        worker: WorkerSettings,
        handler: Handler,
        dead: DeadLetters,
        group_id: str | None = None,
    ) -> None:
        self.role, self.topics, self.settings, self.worker = role, topics, settings, worker
        self.handler, self.dead = handler, dead
        self.group_id = group_id or worker.group(settings.topic_prefix, role)
        self.tracker = OffsetTracker()
        self.owned: set[TopicPartition] = set()
        self.dead_lettered = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._dispatching = asyncio.Lock()  # a revoke waits for the message being dispatched
        self._generation = 0  # bumped by every revoke: a batch fetched before it is stale
        self._failure: BaseException | None = None  # retries spent on failed work: exit
        self._retrying: set[asyncio.Task[None]] = set()  # failed work waiting to start again

    def _new_consumer(self) -> AIOKafkaConsumer:
        w = self.worker
        return AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.group_id,
            client_id=f"{self.role}-{w.worker_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=w.session_timeout_ms,
            heartbeat_interval_ms=w.heartbeat_interval_ms,
            max_poll_interval_ms=w.max_poll_interval_ms,
            rebalance_timeout_ms=w.rebalance_timeout_ms,
            max_poll_records=w.max_poll_records,
            fetch_max_wait_ms=w.fetch_max_wait_ms,
        )

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._consumer = self._new_consumer()
        consumer.subscribe(self.topics, listener=_Listener(self))
        await consumer.start()
        try:
            while not stop.is_set():
                if self._failure is not None:
                    raise self._failure  # the worker exits; the failed work is not committed
                batches = await consumer.getmany(timeout_ms=self.worker.poll_timeout_ms)
                generation = self.generation  # the batch is for the partitions owned now
                for tp, messages in batches.items():
                    for m in messages:
                        delivery = Delivery(m.topic, m.partition, m.offset, m.key, m.value,
                                            tuple(m.headers or ()))  # fmt: skip
                        if not await self.deliver(tp, delivery, generation):
                            break  # revoked meanwhile: read again from the committed offset
                await self.commit()
        finally:
            log.info("%s worker %s stopping", self.role, self.worker.worker_id)
            for waiting in list(self._retrying):  # not started again: left uncommitted
                waiting.cancel()
            await asyncio.gather(*self._retrying, return_exceptions=True)
            await self.handler.close()
            with contextlib.suppress(KafkaError):
                await self.commit()
            await consumer.stop()
            self._consumer = None

    @property
    def generation(self) -> int:
        """Bumped by every revoke: messages fetched before it are no longer this worker's."""
        return self._generation

    async def deliver(self, tp: TopicPartition, message: Message, generation: int) -> bool:
        """Dispatch ``message`` fetched at ``generation``; False (not dispatched) if a revoke
        came since. A revoke waits for a message being dispatched, so it sees the work started."""
        async with self._dispatching:
            if self._generation != generation:
                return False
            self.tracker.begin(tp, message.offset)
            await self._dispatch(tp, message, generation)
            return True

    async def _dispatch(
        self, tp: TopicPartition, message: Message, generation: int, failures: int = 0
    ) -> None:
        try:
            pending = await self._with_retries(message)
        except Exception as exc:
            if is_retriable(exc):
                raise  # the worker exits; the message is not committed
            await self._dead_letter(tp, message, exc)
            pending = None
        if pending is None:
            self.tracker.done(tp, message.offset)
            return
        task = asyncio.ensure_future(pending)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._settled(t, tp, message, generation, failures))

    async def _dead_letter(self, tp: TopicPartition, message: Message, exc: Exception) -> None:
        poison = exc if isinstance(exc, Poison) else Poison(type(exc).__name__, repr(exc))
        log.warning("dead-lettering %s@%s: %s", tp, message.offset, poison)
        await self.dead.send(Rejected(message, poison.error, poison.reason))
        self.dead_lettered += 1

    def _settled(
        self, task: asyncio.Future[Any], tp: TopicPartition, message: Message, generation: int,
        failures: int,
    ) -> None:  # fmt: skip
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            if task.result():
                self.tracker.done(tp, message.offset)
            return
        log.error("work of %s@%s failed", tp, message.offset, exc_info=exc)
        again = asyncio.create_task(self._after_failure(tp, message, generation, failures, exc))
        self._retrying.add(again)
        again.add_done_callback(self._retrying.discard)

    async def _after_failure(
        self, tp: TopicPartition, message: Message, generation: int, failures: int,
        exc: BaseException,
    ) -> None:  # fmt: skip
        """Failed long work: retriable → dispatch the message again after a backoff (the worker
        exits past the budget); anything else → dead letter. Never left in flight."""
        try:
            if isinstance(exc, Exception) and not is_retriable(exc):
                async with self._dispatching:
                    if self._generation == generation:
                        await self._dead_letter(tp, message, exc)
                        self.tracker.done(tp, message.offset)
                return
            if failures + 1 >= self.worker.retry_attempts or not isinstance(exc, Exception):
                raise exc
            await asyncio.sleep(min(0.5 * 2**failures, 10.0))
            async with self._dispatching:
                if self._generation != generation:
                    return  # revoked meanwhile: the partition's next owner picks it up
                log.warning("retrying the work of %s@%s (failure %d): %r", tp, message.offset,
                            failures + 1, exc)  # fmt: skip
                await self._dispatch(tp, message, generation, failures + 1)
        except asyncio.CancelledError:
            raise  # the loop is stopping: the message stays uncommitted
        except BaseException as failed:
            log.error("giving up on %s@%s: the worker exits", tp, message.offset)
            self._failure = failed

    async def _with_retries(self, message: Message) -> Pending | None:
        for attempt in range(self.worker.retry_attempts):
            try:
                return await self.handler.handle(message)
            except Exception as exc:
                if not is_retriable(exc) or attempt + 1 == self.worker.retry_attempts:
                    raise
                log.warning("retriable error (attempt %d): %r", attempt + 1, exc)
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        return None

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        moved = self.tracker.pending()
        if only is not None:
            moved = {tp: pos for tp, pos in moved.items() if tp in only}
        if not moved or self._consumer is None:
            return
        offsets = {tp: OffsetAndMetadata(pos, "") for tp, pos in moved.items()}
        await self._consumer.commit(offsets)
        self.tracker.committed(moved)

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        if not partitions:
            return
        log.info("%s worker %s gives up %s", self.role, self.worker.worker_id,
                 describe(partitions))  # fmt: skip
        async with self._dispatching:  # work started by the message in hand is stopped too
            self._generation += 1
            await self._release(partitions)

    async def _release(self, partitions: set[TopicPartition]) -> None:
        await self.handler.release(partitions)
        await asyncio.sleep(0)  # let finished work mark its offsets done
        with contextlib.suppress(KafkaError):
            await self.commit(partitions)
        for tp in partitions:
            self.tracker.forget(tp)
        self.owned -= partitions
