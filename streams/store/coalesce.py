"""Shared write batches for concurrent fast-mode appends (one stream each) of one store.

The stream processor appends every stream of a Kafka batch concurrently, and with many streams a
batch holds about one event per stream: one request per stream would make the driver's per-request
cost the bottleneck. So each append hands its rows here and waits; once every append in flight has
handed its rows in (or ended), they go out together as unlogged batches of at most
``max_partitions`` partitions and ``budget_bytes`` of payload (under Cassandra's warning
thresholds). A small round (at most ``small_round`` rows: a batch of a light load) goes out
instead as single-partition statements: Cassandra answered 35 one-event appends in ~50 ms as
10-partition batches and in ~14 ms as single-partition statements, so on a light load batches
cost latency; under a backlog they save the per-statement cost (``tests/benchmarks/events.md``).
An append completes when all batches holding its rows have; if one of them failed, the append
raises that error (its rows may be partly written: appends are idempotent, the retry
finds them as duplicates).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from streams.store.driver import execute


@dataclass(frozen=True)
class Row:
    statement: Any
    params: tuple[Any, ...]
    partition: Hashable
    weight: int  # bytes, roughly


class WriteCoalescer:
    def __init__(
        self, session: Session, budget_bytes: int = 3_800, max_partitions: int = 10,
        small_round: int = 80,
    ) -> None:  # fmt: skip
        self._session, self._budget, self._max_partitions = session, budget_bytes, max_partitions
        self._small_round = small_round
        self._in_flight = 0  # appends started and not ended
        self._handed_in = 0  # of which: rows handed in, write not yet done
        self._pending: list[tuple[list[Row], asyncio.Future[None]]] = []

    def enter(self) -> None:
        """An append started: writes wait for it to hand its rows in or to end."""
        self._in_flight += 1

    def leave(self) -> None:
        self._in_flight -= 1
        self._maybe_flush()

    async def write(self, rows: list[Row]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done))
        self._handed_in += 1
        try:
            self._maybe_flush()
            await done
        finally:
            self._handed_in -= 1

    def _maybe_flush(self) -> None:
        if self._pending and self._handed_in >= self._in_flight:
            pending, self._pending = self._pending, []
            asyncio.get_running_loop().create_task(self._send(pending))

    async def _send(self, pending: list[tuple[list[Row], asyncio.Future[None]]]) -> None:
        chunks: list[tuple[list[Row], set[int]]] = []
        partitions: set[Hashable] = set()
        size = 0
        small = sum(len(rows) for rows, _ in pending) <= self._small_round
        max_partitions = 1 if small else self._max_partitions
        for owner, (rows, _) in enumerate(pending):
            for row in rows:
                new_partition = row.partition not in partitions
                if (
                    not chunks
                    or size + row.weight > self._budget
                    or (new_partition and len(partitions) >= max_partitions)
                ):
                    chunks.append(([], set()))
                    partitions, size = set(), 0
                chunks[-1][0].append(row)
                chunks[-1][1].add(owner)
                partitions.add(row.partition)
                size += row.weight
        outcomes = await asyncio.gather(
            *(execute(self._session, _statement(rows)) for rows, _ in chunks),
            return_exceptions=True,
        )
        failed: dict[int, BaseException] = {}
        for (_, owners), outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                failed.update(dict.fromkeys(owners, outcome))
        for owner, (_, done) in enumerate(pending):
            if done.done():
                continue
            if owner in failed:
                done.set_exception(failed[owner])
            else:
                done.set_result(None)


def _statement(rows: list[Row]) -> Any:
    if len(rows) == 1:
        return rows[0].statement.bind(rows[0].params)
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for row in rows:
        batch.add(row.statement, row.params)
    return batch
