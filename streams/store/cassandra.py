"""The Cassandra event store (see ``migrations`` for the tables), in two append modes.

**Fast mode** (``StoreOptions(strict=False)``, what the stream processor uses), the way Akka
Persistence Cassandra writes its journal: per batch of one stream, one ``SELECT seq, event_id``
per stream partition over ``[first-1, last]`` (the predecessor row included, so the gap check
needs no cached head), each event classified as *new*, *identical redelivery* (same
``event_id``: nothing new is written) or *conflict* (another ``event_id``: ``ConcurrencyError``,
nothing of the batch is written); then the new rows and the time-index rows go out as plain
(non-LWT) unlogged batches, shared by the appends in flight together (``coalesce``) and chunked
under Cassandra's batch-size and partitions-per-batch warning thresholds.

Guarantee: a conflict with anything durable before the batch's read is detected and reported,
never overwritten; a redelivery writes nothing new. What it does *not* guard against: a second
writer of the same stream that writes between this writer's read and its write (a few ms) — both
writes succeed and the later one wins the row. That is safe when every writer of a stream is fed
from one ordered log, which is the stream processor's case: a stream's events are one Kafka
partition, one consumer of the group owns it, and even in a rebalance window, when the old and
the new owner both process the same offsets, they process them in the same order, so they write
identical rows (same ids, same bytes), and a genuine conflict later in the log is read back as
one (each writer's own earlier write is durable before it reads for the next batch).

**Strict mode** (``strict=True``, the ``StoreOptions`` default): lightweight transactions, one
conditional ``BATCH`` of ``INSERT … IF NOT EXISTS`` per ``(stream_id, partition_nr)`` — a Paxos
round per partition. Exactly one writer ever takes a ``(stream_id, seq)``, whatever the number of
concurrent writers; the price is ~10× the write cost (``tests/benchmarks/events.md``). Writers
that are *not* fed from one ordered log must use it: the worker journal, whose zombie fencing
(``StreamFenced``) relies on a ``seq`` being taken only once by concurrent deciders.

Both modes: the time-index row is written with (fast) or after (strict) the stream row and
rewritten on every duplicate, so a crash between the two writes is repaired by the redelivery that
follows. The head of each stream is cached for ``head()`` and the strict path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from cassandra.cluster import Cluster, Session
from cassandra.query import BatchStatement, BatchType

from compose.settings import Settings
from streams.store.base import (
    AppendResult,
    ConcurrencyError,
    SequenceGap,
    StoredEvent,
    StoreUnavailable,
    check_batch,
)
from streams.store.coalesce import Row, WriteCoalescer
from streams.store.driver import cached_named_tuple_factory, execute, micros, moment
from streams.store.migrations import migrate
from streams.store.reads import ReadCoalescer, Span


@dataclass(frozen=True)
class StoreOptions:
    keyspace: str
    contact: str
    partition_size: int = 500
    bucket_seconds: int = 3600
    replication: int = 1
    strict: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> StoreOptions:
        base = {"keyspace": settings.cassandra_keyspace, "contact": settings.cassandra_contact}
        return cls(**{**base, **overrides})


class CassandraEventStore:
    """Open with ``await CassandraEventStore.open(options)``; ``await store.close()`` at the end."""

    def __init__(self, cluster: Cluster, session: Session, options: StoreOptions) -> None:
        self._cluster, self._session, self.options = cluster, session, options
        self._heads: dict[str, int] = {}
        self._writes = WriteCoalescer(session)
        ks, prepare = options.keyspace, session.prepare
        columns = "(stream_id, partition_nr, seq, event_id, type, occurred_us, payload)"
        self._put = prepare(f"INSERT INTO {ks}.events_by_stream {columns} VALUES (?,?,?,?,?,?,?)")
        self._insert = prepare(
            f"INSERT INTO {ks}.events_by_stream {columns} VALUES (?,?,?,?,?,?,?) IF NOT EXISTS"
        )
        self._index = prepare(
            f"INSERT INTO {ks}.events_by_time (bucket, occurred_us, stream_id, seq, event_id, type,"
            " payload) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        self._reads = ReadCoalescer(session, prepare(
            f"SELECT stream_id, seq, event_id FROM {ks}.events_by_stream "
            "WHERE stream_id IN ? AND partition_nr = ? AND seq >= ? AND seq <= ?"
        ))  # fmt: skip
        self._select = prepare(
            f"SELECT seq, event_id, type, occurred_us, payload FROM {ks}.events_by_stream "
            "WHERE stream_id = ? AND partition_nr = ? AND seq > ?"
        )
        self._last = prepare(
            f"SELECT seq FROM {ks}.events_by_stream WHERE stream_id = ? AND partition_nr = ? "
            "ORDER BY seq DESC LIMIT 1"
        )
        self._by_time = prepare(
            f"SELECT stream_id, seq, event_id, type, occurred_us, payload FROM {ks}.events_by_time "
            "WHERE bucket = ? AND occurred_us >= ? AND occurred_us < ?"
        )
        self._streams = prepare(
            f"SELECT DISTINCT stream_id, partition_nr FROM {ks}.events_by_stream"
        )

    @classmethod
    async def open(cls, options: StoreOptions) -> CassandraEventStore:
        host, _, port = options.contact.rpartition(":")

        def connect() -> tuple[Cluster, Session]:
            cluster = Cluster([host], port=int(port), protocol_version=5, connect_timeout=10)
            try:
                session = cluster.connect()
                session.row_factory = cached_named_tuple_factory
                migrate(session, options.keyspace, options.replication)
            except Exception:
                cluster.shutdown()
                raise
            return cluster, session

        try:
            cluster, session = await asyncio.to_thread(connect)
        except Exception as exc:
            raise StoreUnavailable(options.contact, repr(exc)) from exc
        return await asyncio.to_thread(cls, cluster, session, options)

    async def close(self) -> None:
        await asyncio.to_thread(self._cluster.shutdown)

    def _partition(self, seq: int) -> int:
        return (seq - 1) // self.options.partition_size

    async def head(self, stream_id: str) -> int:
        if stream_id not in self._heads:
            self._heads[stream_id] = await self._read_head(stream_id)
        return self._heads[stream_id]

    async def _read_head(self, stream_id: str) -> int:
        head, partition = 0, 0
        while rows := await execute(self._session, self._last, (stream_id, partition)):
            head, partition = rows[0].seq, partition + 1
        return head

    async def append(self, events: Sequence[StoredEvent]) -> AppendResult:
        check_batch(events)
        if not events:
            return AppendResult(0, 0)
        if self.options.strict:
            result = await self._append_strict(events)
        else:
            result = await self._append_fast(events)
        stream_id = events[0].stream_id
        self._heads[stream_id] = max(self._heads.get(stream_id, 0), events[-1].seq)
        return result

    # -- fast mode: one read per partition, classify, plain writes ---------------------------

    async def _append_fast(self, events: Sequence[StoredEvent]) -> AppendResult:
        self._writes.enter()
        self._reads.enter()
        try:
            try:
                stored = await self._stored_ids(events[0].stream_id, events[0].seq - 1,
                                                events[-1].seq)  # fmt: skip
            finally:
                self._reads.leave()
            return await self._classify_and_write(events, stored)
        finally:
            self._writes.leave()

    async def _classify_and_write(
        self, events: Sequence[StoredEvent], stored: dict[int, str]
    ) -> AppendResult:
        new: list[StoredEvent] = []
        for e in events:
            held = stored.get(e.seq)
            if held is None:
                new.append(e)
            elif held != e.event_id:
                raise ConcurrencyError(e.stream_id, e.seq, held, e.event_id)
            elif new:  # a stored row after a missing one: the stream has a hole
                raise SequenceGap(e.stream_id, new[0].seq, e.seq)
        if new and new[0].seq > 1 and new[0].seq - 1 not in stored:
            head = await self._read_head(new[0].stream_id)
            self._heads[new[0].stream_id] = head
            raise SequenceGap(new[0].stream_id, head + 1, new[0].seq)
        rows = [Row(self._put, row, row[:2], len(e.payload) + 100) for e in new
                for row in (self._row(e),)]  # fmt: skip
        rows += [Row(self._index, row, row[0], len(e.payload) + 100) for e in events
                 for row in (self._index_row(e),)]  # fmt: skip
        await self._writes.write(rows)
        return AppendResult(len(new), len(events) - len(new))

    async def _stored_ids(self, stream_id: str, low: int, high: int) -> dict[int, str]:
        """``event_id`` by ``seq`` of the stored rows in ``[low, high]``, read together with the
        other appends in flight (``reads``)."""
        low = max(low, 1)
        partitions = range(self._partition(low), self._partition(high) + 1)
        return await self._reads.read([Span(stream_id, p, low, high) for p in partitions])

    # -- strict mode: lightweight transactions ----------------------------------------------

    async def _append_strict(self, events: Sequence[StoredEvent]) -> AppendResult:
        stream_id = events[0].stream_id
        head = await self.head(stream_id)
        new = [e for e in events if e.seq > head]
        if new and new[0].seq != head + 1:
            head = self._heads[stream_id] = await self._read_head(stream_id)
            new = [e for e in events if e.seq > head]
            if new and new[0].seq != head + 1:
                raise SequenceGap(stream_id, head + 1, new[0].seq)
        duplicates = await self._check_stored([e for e in events if e.seq <= head])
        written = 0
        for _, group in groupby(new, key=lambda e: self._partition(e.seq)):
            written += await self._insert_partition(list(group))
        duplicates += len(new) - written
        await asyncio.gather(*(self._write_index(e) for e in events))
        return AppendResult(written, duplicates)

    async def _insert_partition(self, events: list[StoredEvent]) -> int:
        """Conditional batch for one partition; on refusal compare event by event."""
        statement: Any = self._insert.bind(self._row(events[0]))
        if len(events) > 1:
            statement = BatchStatement(batch_type=BatchType.UNLOGGED)
            for e in events:
                statement.add(self._insert, self._row(e))
        rows = await execute(self._session, statement)
        if rows and rows[0].applied:
            return len(events)
        written = 0
        for e in events:
            [row] = await execute(self._session, self._insert, self._row(e))
            if row.applied:
                written += 1
            elif row.event_id != e.event_id:
                raise ConcurrencyError(e.stream_id, e.seq, row.event_id, e.event_id)
        return written

    async def _check_stored(self, events: list[StoredEvent]) -> int:
        """Events at already-stored ``seq``: count duplicates, raise on a conflicting one."""
        if not events:
            return 0
        stored = {e.seq: e for e in await self.read_stream(events[0].stream_id, events[0].seq - 1)}
        for e in events:
            if stored[e.seq].event_id != e.event_id:
                raise ConcurrencyError(e.stream_id, e.seq, stored[e.seq].event_id, e.event_id)
        return len(events)

    async def _write_index(self, e: StoredEvent) -> None:
        await execute(self._session, self._index, self._index_row(e))

    # -- rows and reads ----------------------------------------------------------------------

    def _row(self, e: StoredEvent) -> tuple[Any, ...]:
        return (
            e.stream_id, self._partition(e.seq), e.seq, e.event_id, e.type,
            micros(e.occurred_at), e.payload,
        )  # fmt: skip

    def _index_row(self, e: StoredEvent) -> tuple[Any, ...]:
        at = micros(e.occurred_at)
        bucket = at // (self.options.bucket_seconds * 1_000_000)
        return (bucket, at, e.stream_id, e.seq, e.event_id, e.type, e.payload)

    async def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        partition = self._partition(after_seq + 1)
        while rows := await execute(self._session, self._select, (stream_id, partition, after_seq)):
            found += [
                StoredEvent(stream_id, r.seq, r.event_id, r.type, moment(r.occurred_us), r.payload)
                for r in rows
            ]
            partition += 1
        return found

    async def read_time_range(self, start: datetime, end: datetime) -> list[StoredEvent]:
        low, high = micros(start), micros(end)
        size = self.options.bucket_seconds * 1_000_000
        found: list[StoredEvent] = []
        for bucket in range(low // size, (high - 1) // size + 1):
            rows = await execute(self._session, self._by_time, (bucket, low, high))
            found += [
                StoredEvent(
                    r.stream_id, r.seq, r.event_id, r.type, moment(r.occurred_us), r.payload
                )
                for r in rows
            ]
        return found

    async def stream_ids(self) -> list[str]:
        rows = await execute(self._session, self._streams)
        return sorted({r.stream_id for r in rows})
