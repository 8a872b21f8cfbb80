"""The Redis projection: current state per job, model and QRAF state; lists; a live channel.

Keys under ``<prefix>`` (``ProjectionKeys``): ``stream:<id>`` a hash ``{kind, seq, state}`` with
the JSON snapshot of the fold; ``owner:<owner>:<kind>`` and ``by_time:<kind>`` sorted sets of ids
scored by creation time (µs); ``live:<id>`` the pub/sub channel that carries each applied event's
single-object Avro bytes.

Deliberate choices:
- An event is applied only if it is the stream's next ``seq``. Per stream and batch, one Lua
  script checks the ``seq`` it was folded from, writes the final state, updates the lists and
  publishes every applied event in order — so the channel carries exactly the applied events, in
  order, once each (the feed relies on this), and a batch costs two round trips whatever its size:
  one pipeline of reads, one pipeline of scripts (the folds run in Python, one JSON per stream).
  The state this writer last wrote is kept in memory and reused when Redis still holds that
  ``seq`` (decoding the JSON snapshot is the fold's main cost); any other ``seq`` is read afresh.
- A duplicate is skipped; a gap is filled from the event store before the event is applied. A
  store that still lacks the missing events after a few tries makes the event ``Unapplied`` (the
  caller dead-letters it with the reason), as does an event the fold refuses; the stream's later
  events in the batch are blocked behind it. An event of a stream kind no aggregate folds is
  ``Unapplied`` too (with its stream's other events), never an error that stops the agent.
- A script that finds the ``seq`` moved under it (another writer: a rebalance, a rebuild) writes
  nothing; that stream is read and folded again, a few times, then ``TransientError`` is raised
  for the caller's backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from compose.settings import Settings
from schemas.catalog import Aggregate, aggregate_named, aggregate_of
from schemas.codec import Codec
from schemas.errors import SchemaError, UnknownRecord
from schemas.records import Event
from schemas.snapshot import from_json, to_json
from streams.retry import TransientError
from streams.store.base import EventStore

# KEYS: stream hash, owner list, time list. ARGV: expected seq, last seq, kind, state JSON, member
# (the id, when the stream was created in this batch), score, channel ('' = no publish), payloads…
_APPLY = """
local current = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if current ~= tonumber(ARGV[1]) then return current end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'kind', ARGV[3], 'state', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
end
if ARGV[7] ~= '' then
  for i = 8, #ARGV do redis.call('PUBLISH', ARGV[7], ARGV[i]) end
end
return -1
"""
_APPLIED = -1
_CACHED_STATES = 100_000


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

    def add(self, other: ProjectionOutcome) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.caught_up += other.caught_up
        self.unapplied += other.unapplied


@dataclass
class _Write:
    """What one stream's script call writes: the fold's end, the list entry, the events."""

    stream_id: str
    expected: int
    kind: str
    last: int = 0
    state: str = ""
    member: str = ""
    owner: str = ""
    score: int = 0
    payloads: list[bytes] = field(default_factory=list)
    folded: Any = None  # the state object ``state`` is the JSON of


class Projection:
    def __init__(
        self, redis: Redis, keys: ProjectionKeys, store: EventStore, codec: Codec,
        tries: int = 4, first_pause_s: float = 0.05,
    ) -> None:  # fmt: skip
        self._redis, self.keys, self._store, self._codec = redis, keys, store, codec
        self._tries, self._first_pause_s = tries, first_pause_s
        self._sha: str | None = None
        self._states: dict[str, tuple[int, Any]] = {}  # fold cache: skips from_json when fresh

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
        pending: dict[str, list[tuple[Event, bytes]]] = {}
        for event, payload in items:
            pending.setdefault(event.stream_id, []).append((event, payload))
        for attempt in range(self._tries):
            moved = await self._apply_once(pending, publish, outcome)
            if not moved:
                return outcome
            pending = {stream_id: pending[stream_id] for stream_id in moved}
            await asyncio.sleep(self._first_pause_s * 2**attempt)
        raise TransientError(f"projection of {sorted(pending)} kept moving under this writer")

    async def _apply_once(
        self, by_stream: dict[str, list[tuple[Event, bytes]]], publish: bool,
        outcome: ProjectionOutcome,
    ) -> list[str]:  # fmt: skip
        """One read pipeline, the folds, one script pipeline; the streams whose ``seq`` moved."""
        async with self._redis.pipeline(transaction=False) as reads:
            for stream_id in by_stream:
                reads.hmget(self.keys.stream(stream_id), "seq", "state")
            heads = await reads.execute()
        folded: list[tuple[_Write | None, ProjectionOutcome]] = []
        for (stream_id, events), (seq, state) in zip(by_stream.items(), heads, strict=True):
            folded.append(await self._fold(stream_id, events, int(seq or 0), state, publish))
        writes = [write for write, _ in folded if write is not None]
        results = await self._run_scripts(writes)
        moved = [w.stream_id for w, result in zip(writes, results, strict=True) if result is None]
        for write, part in folded:
            if write is None or write.stream_id not in moved:
                outcome.add(part)
        if len(self._states) > _CACHED_STATES:
            self._states.clear()
        for write in writes:
            if write.stream_id not in moved:
                self._states[write.stream_id] = (write.last, write.folded)
        return moved

    async def _run_scripts(self, writes: list[_Write]) -> list[int | None]:
        """Each write's script result: ``-1`` applied, ``None`` not applied (try again)."""
        if not writes:
            return []
        if self._sha is None:
            self._sha = await self._redis.script_load(_APPLY)
        async with self._redis.pipeline(transaction=False) as pipe:
            for w in writes:
                keys = [self.keys.stream(w.stream_id), self.keys.owner(w.owner, w.kind),
                        self.keys.by_time(w.kind)]  # fmt: skip
                channel = self.keys.live(w.stream_id) if w.payloads else ""
                args: list[Any] = [w.expected, w.last, w.kind, w.state, w.member, w.score, channel]
                pipe.evalsha(self._sha, 3, *keys, *args, *w.payloads)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, NoScriptError):
                self._sha = None  # Redis lost its scripts (restart, SCRIPT FLUSH): load again
            elif isinstance(result, Exception):
                raise result
        return [result if result == _APPLIED else None for result in results]

    async def _fold(
        self, stream_id: str, events: list[tuple[Event, bytes]], seq: int, raw: bytes | None,
        publish: bool,
    ) -> tuple[_Write | None, ProjectionOutcome]:  # fmt: skip
        out = ProjectionOutcome()
        try:
            aggregate = aggregate_of(events[0][0])
        except UnknownRecord as exc:  # an event of no stream kind this projection folds
            reason = f"no projected stream kind: {exc}"
            out.unapplied += [Unapplied(event, payload, reason) for event, payload in events]
            return None, out
        cached = self._states.get(stream_id)
        if cached is not None and cached[0] == seq and raw:
            state = cached[1]  # states are immutable: what this writer last wrote is still it
        else:
            state = from_json(type(aggregate.initial()), raw) if raw else aggregate.initial()
        write = _Write(stream_id, seq, aggregate.kind)
        for index, (event, payload) in enumerate(events):
            if event.seq <= seq:
                out.duplicates += 1
                continue
            pending = [(event, payload)]
            if event.seq > seq + 1:
                found = await self._catch_up(stream_id, seq, event.seq)
                if isinstance(found, str):
                    out.unapplied += _blocked(events[index:], found)
                    break
                pending = found
                out.caught_up += len(pending) - 1
            try:
                for missed, missed_payload in pending:
                    state = aggregate.evolve(state, missed)
                    self._record(write, aggregate, missed, missed_payload, publish)
                    seq = missed.seq
            except SchemaError as exc:
                out.unapplied += _blocked(events[index:], str(exc))
                break
            out.applied += 1
        if write.last == 0:
            return None, out
        write.state, write.folded = to_json(state), state
        return write, out

    async def _catch_up(
        self, stream_id: str, head: int, upto: int
    ) -> list[tuple[Event, bytes]] | str:
        """The stored events in ``(head, upto]``, or why not (after a few tries with pauses)."""
        for attempt in range(self._tries):
            stored = [e for e in await self._store.read_stream(stream_id, head) if e.seq <= upto]
            if len(stored) == upto - head:
                try:
                    decoded = [(self._codec.decode(e.payload), e.payload) for e in stored]
                except SchemaError as exc:
                    return f"stored event of {stream_id} for catch-up undecodable: {exc}"
                return [(event, payload) for event, payload in decoded if isinstance(event, Event)]
            await asyncio.sleep(self._first_pause_s * 2**attempt)
        return f"event store lacks {stream_id} after seq {head} up to {upto} for catch-up"

    async def relist(self, first: Event) -> None:
        """(Re)add the stream ``first`` (its ``seq`` 1) begins to its owner and time lists.

        Idempotent (the lists are sets scored by creation time). A rebuild calls it for every
        stream: when a live writer projected a stream after the drop deleted its hash but before
        it deleted the lists, the hash survives at its head and ``apply`` (which lists a stream
        only when it applies ``seq`` 1) would leave the stream out of the lists."""
        try:
            aggregate = aggregate_of(first)
        except UnknownRecord:
            return  # no projected stream kind: ``apply`` reports it
        owner, score = _listing(aggregate, first)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.owner(owner, aggregate.kind), {first.stream_id: score})
            pipe.zadd(self.keys.by_time(aggregate.kind), {first.stream_id: score})
            await pipe.execute()

    @staticmethod
    def _record(
        write: _Write, aggregate: Aggregate, event: Event, payload: bytes, publish: bool
    ) -> None:
        write.last = event.seq
        if publish:
            write.payloads.append(payload)
        if event.seq == 1:
            write.member = event.stream_id
            write.owner, write.score = _listing(aggregate, event)


def _listing(aggregate: Aggregate, first: Event) -> tuple[str, int]:
    """A stream's owner and its lists' score (creation time in µs), from its first event."""
    return getattr(first, aggregate.owner_field, ""), int(first.occurred_at.timestamp() * 1_000_000)


def _blocked(events: list[tuple[Event, bytes]], reason: str) -> list[Unapplied]:
    """The first event is unappliable for ``reason``; the stream's later ones wait behind it."""
    (first, payload), rest = events[0], events[1:]
    return [Unapplied(first, payload, reason), *(Unapplied(e, p, f"blocked after: {reason}")
                                                 for e, p in rest)]  # fmt: skip
