"""The fast store's shared reads (``streams.store.reads``): appends started together share reads.

Regression: appends started with ``asyncio.gather`` run their first steps one after another, so
the first to read found itself alone in flight and sent its own read, and so did every later one:
35 streams in a batch made 35 single-key reads of 25–35 ms each, queued in Cassandra.
"""

from __future__ import annotations

import asyncio
from collections import namedtuple
from typing import Any

from streams.store.reads import ReadCoalescer, Span

Row = namedtuple("Row", "stream_id seq event_id")


class _Future:
    """The driver's ``ResponseFuture`` as ``driver.execute`` uses it: one page, then done."""

    has_more_pages = False

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    def add_callbacks(self, on_page: Any, on_error: Any) -> None:
        on_page(self._rows)


class _Session:
    """Answers ``SELECT … WHERE stream_id IN ? AND partition_nr = ? AND seq >= ? AND seq <= ?``
    from ``stored`` and records every read it was sent."""

    def __init__(self, stored: dict[str, dict[int, str]]) -> None:
        self.stored, self.reads = stored, []  # type: ignore[var-annotated]

    def execute_async(self, statement: Any, params: tuple[Any, ...]) -> _Future:
        streams, _, low, high = params
        self.reads.append(list(streams))
        held = {s: self.stored.get(s, {}) for s in streams}
        rows = [Row(s, q, e) for s, by_seq in held.items() for q, e in by_seq.items()]
        return _Future([r for r in rows if low <= r.seq <= high])


async def _append(reads: ReadCoalescer, stream_id: str, low: int, high: int) -> dict[int, str]:
    reads.enter()  # what ``CassandraEventStore._append_fast`` does, then it reads at once
    try:
        return await reads.read([Span(stream_id, 0, low, high)])
    finally:
        reads.leave()


def test_appends_started_together_share_one_read_and_each_gets_its_own_rows() -> None:
    stored = {f"s{i}": {1: f"e{i}-1", 2: f"e{i}-2"} for i in range(20)}
    session = _Session(stored)

    async def run() -> list[dict[int, str]]:
        reads = ReadCoalescer(session, statement=None, window=64, max_keys=32)
        return await asyncio.gather(*(_append(reads, f"s{i}", 2, 3) for i in range(20)))

    found = asyncio.run(run())
    assert len(session.reads) == 1 and sorted(session.reads[0]) == sorted(stored)
    assert found == [{2: f"e{i}-2"} for i in range(20)]


def test_reads_are_split_at_max_keys() -> None:
    session = _Session({})

    async def run() -> None:
        reads = ReadCoalescer(session, statement=None, window=64, max_keys=8)
        await asyncio.gather(*(_append(reads, f"s{i}", 1, 1) for i in range(20)))

    asyncio.run(run())
    assert [len(r) for r in session.reads] == [8, 8, 4]


def test_a_lone_append_reads_without_waiting_for_company() -> None:
    session = _Session({"s": {1: "e1"}})

    async def run() -> dict[int, str]:
        reads = ReadCoalescer(session, statement=None)
        return await asyncio.wait_for(_append(reads, "s", 1, 2), 1.0)

    assert asyncio.run(run()) == {1: "e1"} and session.reads == [["s"]]
