"""The agent's batching loop: pull while a batch is in flight, two stages overlapped, late acks.

Boundary: this module knows neither Faust nor Cassandra nor Redis. The agent (``app``) puts each
consumed event into an ``Intake`` and hands ``run_pipelined`` the two stages of a batch
(``Stages``: ``store`` = decode + Cassandra, ``project`` = Redis + dead letters) and an ``ack``.

**Batching.** ``take_events`` stops filling its buffer while its batch is processed, so under a
backlog a batch held only what arrived in its short window (100–500 events). The intake keeps
accepting events while batches are in flight (bounded: ``put`` waits once ``limit`` are queued,
which holds back the Kafka consumer), and a batch takes everything queued, up to ``max_batch``:
under a backlog batches grow to what queued during the previous one. A batch is taken once its
oldest event has waited ``within`` for company (at once when ``max_batch`` are queued): every
event waits at most ``within`` more than it must, and a loop that just finished a batch does not
send the two events that arrived meanwhile as a batch of two (per-batch round trips are the
worker's main cost on a loaded machine).

**Pipelining, and why the order still holds.** Batch n+1's ``store`` runs while batch n's
``project`` does; nothing else overlaps:
1. ``store`` calls run one at a time, in batch order (the loop awaits each before taking the
   next batch). So per stream, Cassandra sees the appends in Kafka order, and every append reads
   after the previous batch's write is durable (what the fast store's conflict check needs).
2. ``project(n+1)`` starts only after ``store(n+1)`` returned (it is given its result) *and*
   after ``project(n)`` finished (the loop awaits batch n's task before starting batch n+1's).
   So per event, the Redis apply follows its durable Cassandra write; per stream, batch n+1's
   events reach Redis after batch n's. A catch-up read in ``project(n)`` may already see batch
   n+1's rows; it applies only up to the event that needed it, batch n+1 applies the rest.
3. A batch is acked only after its ``project`` returned (it runs inside batch n's task, after
   both stages), and batches are acked in batch order (2.), so per Kafka partition the acked
   offsets grow in order and the committed offset (Faust commits the highest offset below which
   everything is acked) never passes an event whose writes are not both durable. ``done`` keeps
   the per-partition highest fully-done offset for checks and tests.
4. If a stage fails (past its retries), nothing of that batch nor of any later batch is acked:
   the error ends the loop, ``take`` included, and the agent crashes; redelivery from the
   committed offset is harmless (both stages are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from streams.deadletter import Message
from streams.pipeline import BatchOutcome, Stored

T = TypeVar("T")


class IntakeClosed(Exception):
    """The intake was closed and is empty: the loop ends."""


class Stages(Protocol):
    async def store(self, messages: Sequence[Message]) -> Stored: ...

    async def project(self, batch: Stored) -> BatchOutcome: ...


class Intake(Generic[T]):
    """A bounded FIFO between the consumer (``put``) and the batching loop (``take``)."""

    def __init__(self, limit: int) -> None:
        self._items: deque[tuple[float, T]] = deque()  # (arrival time, item)
        self._limit = limit
        self._want = 1  # how many queued items wake a waiting ``take``
        self._arrived = asyncio.Event()  # enough items, closed or failed: ``take`` may go on
        self._room = asyncio.Event()  # items were taken, or failed: ``put`` may go on
        self._closed = False
        self._error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: T) -> None:
        while len(self._items) >= self._limit and self._error is None:
            self._room.clear()
            await self._room.wait()
        self._raise_if_failed()
        self._items.append((asyncio.get_running_loop().time(), item))
        if len(self._items) >= self._want:
            self._arrived.set()

    def close(self) -> None:
        self._closed = True
        self._arrived.set()

    def fail(self, error: BaseException) -> None:
        """A stage failed: ``take`` and ``put`` raise ``error`` from now on."""
        self._error = error
        self._arrived.set()
        self._room.set()

    async def take(self, max_items: int, within_s: float) -> list[T]:
        """Up to ``max_items`` queued items, once the oldest has waited ``within_s`` for company
        (at once when ``max_items`` are queued)."""
        loop = asyncio.get_running_loop()
        self._want = 1
        while not self._items and not self._closed and self._error is None:
            self._arrived.clear()
            await self._arrived.wait()
        if self._items and len(self._items) < max_items and not self._closed:
            left = self._items[0][0] + within_s - loop.time()
            if left > 0 and self._error is None:
                self._want = max_items
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
        self._raise_if_failed()
        if not self._items:
            raise IntakeClosed
        count = min(max_items, len(self._items))
        taken = [self._items.popleft()[1] for _ in range(count)]
        self._room.set()
        return taken

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


class Offsets:
    """Per Kafka partition, the highest offset whose batch is done (both stages) and acked."""

    def __init__(self) -> None:
        self.done: dict[tuple[str, int], int] = {}

    def record(self, messages: Sequence[Message]) -> None:
        for m in messages:
            key = (m.topic, m.partition)
            if m.offset > self.done.get(key, -1):
                self.done[key] = m.offset


async def run_pipelined(
    intake: Intake[T],
    stages: Stages,
    message_of: Callable[[T], Message],
    ack: Callable[[Sequence[T]], Awaitable[None]],
    max_batch: int,
    within_s: float,
    offsets: Offsets | None = None,
) -> None:
    """Batches from ``intake`` until it is closed and empty; see the module docstring."""
    offsets = offsets if offsets is not None else Offsets()
    projecting: asyncio.Task[None] | None = None

    async def finish(items: list[T], messages: list[Message], stored: Stored) -> None:
        await stages.project(stored)
        await ack(items)
        offsets.record(messages)

    def on_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            intake.fail(task.exception())  # type: ignore[arg-type]

    try:
        while True:
            try:
                items = await intake.take(max_batch, within_s)
            except IntakeClosed:
                break
            messages = [message_of(item) for item in items]
            stored = await stages.store(messages)  # overlaps the previous batch's project
            if projecting is not None:
                await projecting  # batch n's Redis step and acks before batch n+1's
            projecting = asyncio.create_task(finish(items, messages, stored))
            projecting.add_done_callback(on_done)
        if projecting is not None:
            await projecting
    finally:
        if projecting is not None and not projecting.done():
            projecting.cancel()
