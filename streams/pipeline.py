"""One batch of event-topic messages: decode, store in Cassandra, project into Redis, dead-letter.

Two stages, so that the agent can overlap them across batches (``streams.flow``): ``store``
(decode, append to Cassandra; durable when it returns) and ``project`` (Redis, then dead letters).
``handle`` runs both in order. The visible order is the guarantee: the store append is durable
before the projection sees the event, and both (and any dead letters) are done before the batch is
acked, so offsets are committed after the writes.

Per-handler choice (STYLE.md): this is an event handler, so bad input is dead-lettered and the
batch goes on: undecodable bytes, a record that is not an event, a conflicting event at a stored
``seq``, a gap the store refuses, an event the fold refuses, a gap the store cannot fill.
Infrastructure errors (Cassandra, Redis, Kafka) are not the message's fault: each step is retried
with bounded exponential backoff (``streams.retry``), which is safe because the append and the
projection are idempotent; past the policy's attempts the error propagates and nothing is acked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.records import Event
from streams.deadletter import DeadLetters, Message, Rejected
from streams.projection import Projection
from streams.retry import RetryPolicy, retrying
from streams.store.base import ConcurrencyError, EventStore, SequenceGap, StoredEvent


@dataclass(frozen=True)
class Stored:
    """What stage one (``store``) hands to stage two (``project``): the batch after Cassandra."""

    stored: int
    duplicates: int
    accepted: list[tuple[Event, Message]]  # durable in the store, in Kafka order per stream
    rejected: list[Rejected]  # to dead-letter in stage two


@dataclass(frozen=True)
class BatchOutcome:
    stored: int
    duplicates: int
    projected: int
    dead_lettered: int


class EventPipeline:
    def __init__(
        self, codec: Codec, store: EventStore, projection: Projection, dead: DeadLetters,
        retry: RetryPolicy | None = None,
    ) -> None:  # fmt: skip
        self._codec, self._store, self._projection, self._dead = codec, store, projection, dead
        self._retry = retry or RetryPolicy()

    async def handle(self, messages: Sequence[Message]) -> BatchOutcome:
        """Both stages of one batch, in order (``store`` then ``project``)."""
        return await self.project(await self.store(messages))

    async def store(self, messages: Sequence[Message]) -> Stored:
        """Stage one: decode and append to the event store; durable when this returns."""
        rejected: list[Rejected] = []
        decoded: list[tuple[Event, Message]] = []
        decode = self._codec.decode
        for message in messages:
            try:
                record = decode(message.value)
            except DecodeError as exc:
                rejected.append(Rejected(message, type(exc).__name__, exc.reason))
                continue
            if not isinstance(record, Event):
                reason = f"{record.type} is not an event"
                rejected.append(Rejected(message, "NotAnEvent", reason))
                continue
            decoded.append((record, message))
        stored, duplicates, accepted, refused = await retrying(
            self._retry, lambda: self._store_all(decoded), "event-store append"
        )
        return Stored(stored, duplicates, accepted, rejected + refused)

    async def project(self, batch: Stored) -> BatchOutcome:
        """Stage two: project the stored events into Redis, then send the batch's dead letters."""
        rejected = list(batch.rejected)
        projecting = [(e, _body(m)) for e, m in batch.accepted]
        outcome = await retrying(
            self._retry, lambda: self._projection.apply(projecting), "redis projection"
        )
        if outcome.unapplied:
            origin = {e.event_id: m for e, m in batch.accepted}
            for unapplied in outcome.unapplied:
                event = unapplied.event  # a caught-up event has no message of this batch
                fallback = Message(
                    "event-store", -1, event.seq, event.stream_id.encode(), unapplied.payload
                )
                message = origin.get(event.event_id, fallback)
                rejected.append(Rejected(message, "Unapplied", unapplied.reason))
        for item in rejected:
            await retrying(self._retry, partial(self._dead.send, item), "dead letter")
        return BatchOutcome(batch.stored, batch.duplicates, outcome.applied, len(rejected))

    async def _store_all(
        self, decoded: list[tuple[Event, Message]]
    ) -> tuple[int, int, list[tuple[Event, Message]], list[Rejected]]:
        by_stream: dict[str, list[tuple[Event, Message]]] = {}
        for event, message in decoded:
            by_stream.setdefault(event.stream_id, []).append((event, message))
        rejected: list[Rejected] = []
        results = await asyncio.gather(
            *(self._store_stream(group, rejected) for group in by_stream.values())
        )
        accepted = [item for result in results for item in result[2]]
        return sum(r[0] for r in results), sum(r[1] for r in results), accepted, rejected

    async def _store_stream(
        self, group: list[tuple[Event, Message]], rejected: list[Rejected]
    ) -> tuple[int, int, list[tuple[Event, Message]]]:
        """Append a stream's events in one go; if refused, one by one, dead-lettering the bad."""
        try:
            result = await self._store.append([StoredEvent.of(e, _body(m)) for e, m in group])
            return result.written, result.duplicates, group
        except (ConcurrencyError, SequenceGap, ValueError):
            pass  # the batch holds a bad event (or is not contiguous): sort it out event by event
        written = duplicates = 0
        accepted = []
        for event, message in group:
            try:
                result = await self._store.append([StoredEvent.of(event, _body(message))])
            except (ConcurrencyError, SequenceGap) as exc:
                rejected.append(Rejected(message, type(exc).__name__, str(exc)))
                continue
            written, duplicates = written + result.written, duplicates + result.duplicates
            accepted.append((event, message))
        return written, duplicates, accepted


def _body(message: Message) -> bytes:
    """The bytes of a message that decoded (only a message without a value has none)."""
    if message.value is None:
        raise ValueError(f"message {message.topic}@{message.offset} has no value")
    return message.value
