"""The in-memory event store: the contract's reference behaviour, for tests and tools."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from streams.store.base import (
    AppendResult,
    ConcurrencyError,
    SequenceGap,
    StoredEvent,
    check_batch,
)


class MemoryEventStore:
    def __init__(self) -> None:
        self._streams: dict[str, list[StoredEvent]] = {}

    async def append(self, events: Sequence[StoredEvent]) -> AppendResult:
        check_batch(events)
        written = duplicates = 0
        for event in events:
            stream = self._streams.setdefault(event.stream_id, [])
            if event.seq <= len(stream):
                stored = stream[event.seq - 1]
                if stored.event_id != event.event_id:
                    raise ConcurrencyError(
                        event.stream_id, event.seq, stored.event_id, event.event_id
                    )
                duplicates += 1
                continue
            if event.seq != len(stream) + 1:
                raise SequenceGap(event.stream_id, len(stream) + 1, event.seq)
            stream.append(event)
            written += 1
        return AppendResult(written, duplicates)

    async def head(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, ()))

    async def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        return list(self._streams.get(stream_id, [])[after_seq:])

    async def read_time_range(self, start: datetime, end: datetime) -> list[StoredEvent]:
        found = [e for s in self._streams.values() for e in s if start <= e.occurred_at < end]
        return sorted(found, key=lambda e: (e.occurred_at, e.stream_id, e.seq))

    async def stream_ids(self) -> list[str]:
        return sorted(self._streams)
