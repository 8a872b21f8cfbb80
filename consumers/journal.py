"""The writer of event streams: decide, append to the event store, then publish to Kafka.

Deliberate choice: a worker is the single writer of the streams it works on, and the event store
is its source of truth for ``seq``. It appends first (``(stream_id, seq)`` is taken only once, so
a zombie worker writing the same stream gets ``StreamFenced``) and publishes after; the streams
sink appending the same event again finds a duplicate and only projects it. A crash between the
append and the publish is repaired by redelivery: the command's events are found in the store by
their ``causation_id`` and published again instead of being decided twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from consumers.errors import StreamFenced
from schemas.catalog import Aggregate
from schemas.codec import Codec
from schemas.records import Command, Event, Record
from streams.store.base import ConcurrencyError, EventStore, SequenceGap, StoredEvent


class Publishes(Protocol):
    async def publish_all(self, records: Sequence[Record]) -> Any: ...


@dataclass
class Folded:
    """A stream's current state, and the commands that caused its events (for redelivery)."""

    state: Any
    events: list[Event] = field(default_factory=list)

    @property
    def version(self) -> int:
        return self.events[-1].seq if self.events else 0

    def caused_by(self, command_id: str) -> list[Event]:
        return [e for e in self.events if e.causation_id == command_id]


Adjust = Callable[[Event], Event]


class Journal:
    def __init__(self, store: EventStore, publisher: Publishes, codec: Codec) -> None:
        self._store, self._publisher, self._codec = store, publisher, codec

    async def load(self, stream_id: str, aggregate: Aggregate) -> Folded:
        """Fold the stored stream (its events decoded with the codec)."""
        state, events = aggregate.initial(), []
        for stored in await self._store.read_stream(stream_id):
            event = self._codec.decode(stored.payload)
            assert isinstance(event, Event)
            state = aggregate.evolve(state, event)
            events.append(event)
        return Folded(state, events)

    async def execute(
        self, folded: Folded, aggregate: Aggregate, command: Command, adjust: Adjust | None = None
    ) -> list[Event]:
        """Decide ``command`` on ``folded`` and record the events (``IllegalTransition`` if not
        allowed). ``adjust`` may enrich a decided event's payload (not its envelope)."""
        events = aggregate.decide(folded.state, command)
        if adjust is not None:
            events = [adjust(e) for e in events]
        await self.record(folded, aggregate, events)
        return events

    async def execute_all(
        self, folded: Folded, aggregate: Aggregate, steps: Sequence[tuple[Command, Adjust | None]]
    ) -> list[Event]:
        """Decide several commands in order and record all their events in one append."""
        state, events = folded.state, []
        for cmd, adjust in steps:
            for event in aggregate.decide(state, cmd):
                event = adjust(event) if adjust is not None else event
                state = aggregate.evolve(state, event)
                events.append(event)
        await self.record(folded, aggregate, events)
        return events

    async def record(self, folded: Folded, aggregate: Aggregate, events: Sequence[Event]) -> None:
        stored = [StoredEvent.of(e, self._codec.encode(e)) for e in events]
        try:
            await self._store.append(stored)
        except (ConcurrencyError, SequenceGap) as exc:
            raise StreamFenced(events[0].stream_id, events[0].seq) from exc
        for event in events:
            folded.state = aggregate.evolve(folded.state, event)
            folded.events.append(event)
        await self.republish(events)

    async def republish(self, events: Sequence[Event]) -> None:
        """Publish in order, as one burst (one produce request per partition, not per event)."""
        await self._publisher.publish_all(events)


def with_payload(**changes: Any) -> Adjust:
    """An ``adjust`` that sets payload fields on every decided event that has them."""

    def adjust(event: Event) -> Event:
        own = {k: v for k, v in changes.items() if hasattr(event, k)}
        return replace(event, **own) if own else event

    return adjust
