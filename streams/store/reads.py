"""Shared reads for concurrent fast-mode appends: one ``IN`` query for many streams' seq ranges.

A fast append reads ``seq, event_id`` of its stream over ``[first-1, last]`` to classify its
events (``cassandra``). The stream processor appends every stream of a Kafka batch at once, with
about one event per stream, so one read per stream made the driver's and Cassandra's
per-request cost the bottleneck. Each append hands its range here and waits; once every append in
flight has handed its range in (or ended), the ranges go out grouped: same ``partition_nr``, at
most ``max_keys`` streams, ranges merged while the merged range stays within ``window`` seqs (the
rows read beyond an append's own range are few and dropped). Each append gets exactly the rows of
its own range, as its own read would have returned them at that moment.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from streams.store.driver import execute


@dataclass(frozen=True)
class Span:
    stream_id: str
    partition_nr: int
    low: int
    high: int


class ReadCoalescer:
    def __init__(self, session: Session, statement: Any, window: int = 64, max_keys: int = 32):
        self._session, self._statement = session, statement
        self._window, self._max_keys = window, max_keys
        self._in_flight = 0  # appends started that have not yet read (or ended)
        self._waiting = 0  # of which: waiting in ``read``
        self._pending: list[tuple[Span, asyncio.Future[dict[int, str]]]] = []
        self._flush_scheduled = False

    def enter(self) -> None:
        self._in_flight += 1

    def leave(self) -> None:
        """The append has read (or failed before reading): reads no longer wait for it."""
        self._in_flight -= 1
        self._maybe_flush()

    async def read(self, spans: list[Span]) -> dict[int, str]:
        """``event_id`` by ``seq`` of the stored rows in the spans (one stream's partitions)."""
        loop = asyncio.get_running_loop()
        futures = []
        for span in spans:
            done: asyncio.Future[dict[int, str]] = loop.create_future()
            self._pending.append((span, done))
            futures.append(done)
        self._waiting += 1
        try:
            self._flush_soon()
            found: dict[int, str] = {}
            for part in await asyncio.gather(*futures):
                found.update(part)
            return found
        finally:
            self._waiting -= 1

    def _flush_soon(self) -> None:
        """Decide on the next turn of the loop, not now: appends started together (``gather``)
        run their first steps one after another, so the first to read would otherwise find
        itself alone in flight and send a read of its own, and so would every later one."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._pending and self._waiting >= self._in_flight:
            pending, self._pending = self._pending, []
            for group in self._groups(pending):
                asyncio.get_running_loop().create_task(self._send(group))

    def _groups(
        self, pending: list[tuple[Span, asyncio.Future[dict[int, str]]]]
    ) -> list[list[tuple[Span, asyncio.Future[dict[int, str]]]]]:
        ordered = sorted(pending, key=lambda p: (p[0].partition_nr, p[0].low))
        groups: list[list[tuple[Span, asyncio.Future[dict[int, str]]]]] = []
        low = high = 0
        for item in ordered:
            span = item[0]
            if (
                groups
                and groups[-1][0][0].partition_nr == span.partition_nr
                and len(groups[-1]) < self._max_keys
                and max(high, span.high) - low <= self._window
            ):
                groups[-1].append(item)
                high = max(high, span.high)
            else:
                groups.append([item])
                low, high = span.low, span.high
        return groups

    async def _send(self, group: list[tuple[Span, asyncio.Future[dict[int, str]]]]) -> None:
        spans = [span for span, _ in group]
        streams = sorted({s.stream_id for s in spans})
        low, high = min(s.low for s in spans), max(s.high for s in spans)
        params = (streams, spans[0].partition_nr, low, high)
        try:
            rows = await execute(self._session, self._statement, params)
        except Exception as exc:  # every waiting append raises it (its retry reads again)
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
            return
        by_stream: dict[str, list[Any]] = {}
        for r in rows:
            by_stream.setdefault(r.stream_id, []).append(r)
        for span, done in group:
            if not done.done():
                found = by_stream.get(span.stream_id, ())
                done.set_result(
                    {r.seq: r.event_id for r in found if span.low <= r.seq <= span.high}
                )
