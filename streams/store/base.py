"""The event-store contract every backend passes (``tests/events/store_contract.py``).

``append`` takes events of one stream with contiguous ascending ``seq``:
- an event at a ``seq`` already stored with the same ``event_id`` is a duplicate: nothing is
  written (redelivery is harmless);
- an event at a stored ``seq`` with another ``event_id`` raises ``ConcurrencyError``, and the
  stored event stays;
- the first new ``seq`` must follow the stream's head, else ``SequenceGap``.
Reads return exactly what was appended, in ``seq`` (stream) or time order (time range).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas.records import Record


class StoreError(Exception):
    """Base of the event-store errors."""


class ConcurrencyError(StoreError):
    """Another event already holds ``seq`` in the stream."""

    def __init__(self, stream_id: str, seq: int, stored_id: str, offered_id: str) -> None:
        super().__init__(f"{stream_id}@{seq} holds {stored_id}, refused {offered_id}")
        self.stream_id, self.seq = stream_id, seq
        self.stored_id, self.offered_id = stored_id, offered_id


class SequenceGap(StoreError):
    def __init__(self, stream_id: str, expected: int, offered: int) -> None:
        super().__init__(f"{stream_id}: expected seq {expected}, offered {offered}")
        self.stream_id, self.expected, self.offered = stream_id, expected, offered


class StoreUnavailable(StoreError):
    def __init__(self, contact: str, reason: str) -> None:
        super().__init__(f"event store at {contact} unavailable: {reason}")
        self.contact, self.reason = contact, reason


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the store keeps it: its key columns and its encoded bytes."""

    stream_id: str
    seq: int
    event_id: str
    type: str
    occurred_at: datetime
    payload: bytes

    @classmethod
    def of(cls, record: Record, payload: bytes) -> StoredEvent:
        return cls(
            record.stream_id, record.seq, record.event_id, record.type, record.occurred_at, payload
        )


@dataclass(frozen=True)
class AppendResult:
    written: int
    duplicates: int


class EventStore(Protocol):
    async def append(self, events: Sequence[StoredEvent]) -> AppendResult: ...

    async def head(self, stream_id: str) -> int: ...

    async def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]: ...

    async def read_time_range(self, start: datetime, end: datetime) -> list[StoredEvent]: ...

    async def stream_ids(self) -> list[str]: ...


def check_batch(events: Sequence[StoredEvent]) -> None:
    """One stream, contiguous ascending ``seq`` from ≥ 1 (a caller bug otherwise)."""
    if not events:
        return
    first = events[0]
    for offset, event in enumerate(events):
        if event.stream_id != first.stream_id or event.seq != first.seq + offset or event.seq < 1:
            raise ValueError(
                f"append batch is not one contiguous stream: {event.stream_id}@{event.seq}"
            )
