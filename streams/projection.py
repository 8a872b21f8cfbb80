"""The Redis projection: current state per job, model and QRAF state; lists; a live channel.

Keys under ``<prefix>`` (``ProjectionKeys``): ``stream:<id>`` a hash ``{kind, seq, state}`` with
the JSON snapshot of the fold; ``owner:<owner>:<kind>`` and ``by_time:<kind>`` sorted sets of ids
scored by creation time (µs); ``live:<id>`` the pub/sub channel that carries each applied event's
single-object Avro bytes.

Deliberate choices:
- An event is applied only if it is the stream's next ``seq``; the check, the write, the list
  updates and the publish happen in one Lua script, so the channel carries exactly the applied
  events, in order, once each (the feed relies on this).
- A duplicate is skipped; a gap is filled from the event store before the event is applied.
- A batch costs two round trips: one pipeline of reads, one of scripts (folds run in Python).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from compose.settings import Settings
from schemas.catalog import Aggregate, aggregate_named, aggregate_of
from schemas.codec import Codec
from schemas.errors import SchemaError
from schemas.records import Event
from schemas.snapshot import from_json, to_json
from streams.store.base import EventStore

_APPLY = """
local current = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if current ~= tonumber(ARGV[1]) then return current end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'kind', ARGV[3], 'state', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
end
if ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[7], ARGV[8]) end
return -1
"""


@dataclass(frozen=True)
class ProjectionKeys:
    prefix: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ProjectionKeys:
        return cls(f"{settings.topic_prefix}qllm")

    def stream(self, stream_id: str) -> str:
        return f"{self.prefix}:stream:{stream_id}"

    def owner(self, owner: str, kind: str) -> str:
        return f"{self.prefix}:owner:{owner}:{kind}"

    def by_time(self, kind: str) -> str:
        return f"{self.prefix}:by_time:{kind}"

    def live(self, stream_id: str) -> str:
        return f"{self.prefix}:live:{stream_id}"


@dataclass
class Unapplied:
    """An event the projection could not apply, and why (the caller dead-letters it)."""

    event: Event
    payload: bytes
    reason: str


@dataclass
class ProjectionOutcome:
    applied: int = 0
    duplicates: int = 0
    caught_up: int = 0
    unapplied: list[Unapplied] = field(default_factory=list)


class Projection:
    def __init__(self, redis: Redis, keys: ProjectionKeys, store: EventStore, codec: Codec) -> None:
        self._redis, self.keys, self._store, self._codec = redis, keys, store, codec
        self._script = redis.register_script(_APPLY)

    async def current(self, stream_id: str) -> tuple[int, Any]:
        """``(seq, state)`` of a stream as projected (``(0, None)`` when absent)."""
        seq, kind, state = await self._redis.hmget(
            self.keys.stream(stream_id), "seq", "kind", "state"
        )
        if seq is None or kind is None or state is None:
            return 0, None
        return int(seq), from_json(
            aggregate_named(kind.decode() if isinstance(kind, bytes) else kind).initial().__class__,
            state,
        )

    async def apply(
        self, items: Sequence[tuple[Event, bytes]], publish: bool = True
    ) -> ProjectionOutcome:
        """Apply events (any streams, in stream order) with skip, catch-up and refusal rules."""
        outcome = ProjectionOutcome()
        by_stream: dict[str, list[tuple[Event, bytes]]] = {}
        for event, payload in items:
            by_stream.setdefault(event.stream_id, []).append((event, payload))
        async with self._redis.pipeline(transaction=False) as reads:
            for stream_id in by_stream:
                reads.hmget(self.keys.stream(stream_id), "seq", "state")
            heads = await reads.execute()
        calls: list[tuple[str, list[Any]]] = []
        for (stream_id, events), (seq, state) in zip(by_stream.items(), heads, strict=True):
            await self._fold(stream_id, events, int(seq or 0), state, publish, calls, outcome)
        async with self._redis.pipeline(transaction=False) as writes:
            for stream_id, args in calls:
                await self._script(
                    keys=self._script_keys(stream_id, args), args=args, client=writes
                )
            results = await writes.execute()
        if any(result != -1 for result in results):
            raise RuntimeError(f"projection changed under this writer: {results}")
        return outcome

    def _script_keys(self, stream_id: str, args: list[Any]) -> list[str]:
        kind, owner = args[2], args[8]
        return [self.keys.stream(stream_id), self.keys.owner(owner, kind), self.keys.by_time(kind)]

    async def _fold(
        self, stream_id: str, events: list[tuple[Event, bytes]], seq: int, raw: bytes | None,
        publish: bool, calls: list[tuple[str, list[Any]]], outcome: ProjectionOutcome,
    ) -> None:  # fmt: skip
        aggregate = aggregate_of(events[0][0])
        state = from_json(type(aggregate.initial()), raw) if raw else aggregate.initial()
        for index, (event, payload) in enumerate(events):
            if event.seq <= seq:
                outcome.duplicates += 1
                continue
            pending = [(event, payload)]
            if event.seq > seq + 1:
                pending = await self._catch_up(stream_id, seq, event.seq)
                outcome.caught_up += len(pending) - 1
            try:
                for missed, missed_payload in pending:
                    state = aggregate.evolve(state, missed)
                    args = self._args(aggregate, seq, missed, missed_payload, state, publish)
                    calls.append((stream_id, args))
                    seq = missed.seq
            except SchemaError as exc:
                blocked = [Unapplied(e, p, f"blocked after {exc}") for e, p in events[index + 1 :]]
                outcome.unapplied += [Unapplied(event, payload, str(exc)), *blocked]
                return
            outcome.applied += 1

    async def _catch_up(self, stream_id: str, head: int, upto: int) -> list[tuple[Event, bytes]]:
        stored = [e for e in await self._store.read_stream(stream_id, head) if e.seq <= upto]
        decoded = [(self._codec.decode(e.payload), e.payload) for e in stored]
        if not decoded or decoded[-1][0].seq != upto:
            raise RuntimeError(f"event store lacks {stream_id} up to {upto} for catch-up")
        return [(event, payload) for event, payload in decoded if isinstance(event, Event)]

    def _args(
        self, aggregate: Aggregate, previous: int, event: Event, payload: bytes, state: Any,
        publish: bool,
    ) -> list[Any]:  # fmt: skip
        kind, created = aggregate.kind, event.seq == 1
        owner = getattr(event, aggregate.owner_field, "") if created else ""
        score = int(event.occurred_at.timestamp() * 1_000_000)
        channel = self.keys.live(event.stream_id) if publish else ""
        member = event.stream_id if created else ""
        return [previous, event.seq, kind, to_json(state), member, score, channel, payload, owner]
