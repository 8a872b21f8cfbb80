"""The Cassandra event store (see ``migrations`` for the tables).

Deliberate choices:
- New events are written with lightweight transactions: one conditional ``BATCH`` of
  ``INSERT … IF NOT EXISTS`` per ``(stream_id, partition_nr)`` — a single Paxos round per
  partition. A refused batch means some ``seq`` is taken: the events are then compared one by one
  with what is stored, so a redelivery is a duplicate and a different event a ``ConcurrencyError``.
- The head of each stream is cached; a stale cache only costs a refused LWT or a re-read.
- The time index row is written after the stream row, and rewritten on every duplicate, so a
  crash between the two writes is repaired by the redelivery that follows it.
- Every driver call goes through ``execute_async``, its future bridged to asyncio: the event loop
  never blocks on Cassandra. Connecting and migrating run in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
from streams.store.migrations import migrate


@dataclass(frozen=True)
class StoreOptions:
    keyspace: str
    contact: str
    partition_size: int = 500
    bucket_seconds: int = 3600
    replication: int = 1

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> StoreOptions:
        base = {"keyspace": settings.cassandra_keyspace, "contact": settings.cassandra_contact}
        return cls(**{**base, **overrides})


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _moment(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


def _settle(done: asyncio.Future[list[Any]], rows: Any, exc: BaseException | None) -> None:
    if done.done():
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(rows)


async def _execute(session: Session, statement: Any, params: Any = None) -> list[Any]:
    """Run a statement with the driver's async API; all pages, without blocking the loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[list[Any]] = loop.create_future()
    rows: list[Any] = []
    future = session.execute_async(statement, params)

    def on_page(page: list[Any] | None) -> None:
        rows.extend(page or ())
        if future.has_more_pages:
            future.start_fetching_next_page()
        else:
            loop.call_soon_threadsafe(_settle, done, rows, None)

    def on_error(exc: BaseException) -> None:
        loop.call_soon_threadsafe(_settle, done, None, exc)

    future.add_callbacks(on_page, on_error)
    return await done


class CassandraEventStore:
    """Open with ``await CassandraEventStore.open(options)``; ``await store.close()`` at the end."""

    def __init__(self, cluster: Cluster, session: Session, options: StoreOptions) -> None:
        self._cluster, self._session, self.options = cluster, session, options
        self._heads: dict[str, int] = {}
        ks = options.keyspace
        prepare = session.prepare
        self._insert = prepare(
            f"INSERT INTO {ks}.events_by_stream (stream_id, partition_nr, seq, event_id, type, "
            "occurred_us, payload) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
        )
        self._index = prepare(
            f"INSERT INTO {ks}.events_by_time (bucket, occurred_us, stream_id, seq, event_id, type,"
            " payload) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
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
        while rows := await _execute(self._session, self._last, (stream_id, partition)):
            head, partition = rows[0].seq, partition + 1
        return head

    async def append(self, events: Sequence[StoredEvent]) -> AppendResult:
        check_batch(events)
        if not events:
            return AppendResult(0, 0)
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
        self._heads[stream_id] = max(self._heads.get(stream_id, 0), events[-1].seq)
        return AppendResult(written, duplicates)

    async def _insert_partition(self, events: list[StoredEvent]) -> int:
        """Conditional batch for one partition; on refusal compare event by event."""
        statement: Any = self._insert.bind(self._row(events[0]))
        if len(events) > 1:
            statement = BatchStatement(batch_type=BatchType.UNLOGGED)
            for e in events:
                statement.add(self._insert, self._row(e))
        rows = await _execute(self._session, statement)
        if rows and rows[0].applied:
            return len(events)
        written = 0
        for e in events:
            [row] = await _execute(self._session, self._insert, self._row(e))
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

    def _row(self, e: StoredEvent) -> tuple[Any, ...]:
        return (
            e.stream_id, self._partition(e.seq), e.seq, e.event_id, e.type,
            _micros(e.occurred_at), e.payload,
        )  # fmt: skip

    async def _write_index(self, e: StoredEvent) -> None:
        micros = _micros(e.occurred_at)
        bucket = micros // (self.options.bucket_seconds * 1_000_000)
        params = (bucket, micros, e.stream_id, e.seq, e.event_id, e.type, e.payload)
        await _execute(self._session, self._index, params)

    async def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        partition = self._partition(after_seq + 1)
        while rows := await _execute(
            self._session, self._select, (stream_id, partition, after_seq)
        ):
            found += [
                StoredEvent(stream_id, r.seq, r.event_id, r.type, _moment(r.occurred_us), r.payload)
                for r in rows
            ]
            partition += 1
        return found

    async def read_time_range(self, start: datetime, end: datetime) -> list[StoredEvent]:
        low, high = _micros(start), _micros(end)
        size = self.options.bucket_seconds * 1_000_000
        found: list[StoredEvent] = []
        for bucket in range(low // size, (high - 1) // size + 1):
            rows = await _execute(self._session, self._by_time, (bucket, low, high))
            found += [
                StoredEvent(
                    r.stream_id, r.seq, r.event_id, r.type, _moment(r.occurred_us), r.payload
                )
                for r in rows
            ]
        return found

    async def stream_ids(self) -> list[str]:
        rows = await _execute(self._session, self._streams)
        return sorted({r.stream_id for r in rows})
