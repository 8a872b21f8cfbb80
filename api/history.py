"""Reads of the event store (Cassandra): a stream's decoded events, for metrics and versions.

History is what the projection does not keep: every step of a job, every checkpoint a model
published. The store is opened lazily by ``Resources``; a down Cassandra is a 503.
"""

from __future__ import annotations

from typing import TypeVar

from schemas.codec import default_codec
from schemas.records import Event
from streams.store.base import EventStore

E = TypeVar("E", bound=Event)


async def events_of(store: EventStore, stream_id: str, kind: type[E] | None = None) -> list[E]:
    """The events of ``stream_id`` in ``seq`` order (only those of class ``kind`` when given)."""
    codec = default_codec()
    decoded = [codec.decode(stored.payload) for stored in await store.read_stream(stream_id)]
    wanted = kind or Event
    return [e for e in decoded if isinstance(e, wanted)]  # type: ignore[misc]
