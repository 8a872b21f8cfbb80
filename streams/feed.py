"""The replay-then-follow reader behind SSE: a stream's events after a ``seq``, then live.

Order of operations, which is what makes the seam exact: subscribe to the stream's live channel
and wait for Redis to confirm it; read the projection's ``seq`` for the stream; replay from
Cassandra the events in ``(last_seq, projected seq]``; then follow the channel, dropping anything
at or below the last ``seq`` yielded. The projection publishes an event in the same script that
writes the state that includes it, and only after the event is in Cassandra, so an event projected
before the subscription took effect is in the replay, and one projected after it is on the
channel: no gap. Dedupe by ``seq``: no duplicate. If the channel ever skips a ``seq`` (a
reconnect), the hole is filled from Cassandra.

The feed never runs ahead of the projection: an event stored in Cassandra but not yet projected
is yielded only once it is, so a client that has seen ``JobSucceeded`` on the feed reads
``SUCCEEDED`` from the status endpoint right after (both come from the projection's point of view).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from schemas.codec import Codec
from schemas.records import Event
from streams.projection import ProjectionKeys
from streams.store.base import EventStore


def event_json(event: Event) -> dict[str, Any]:
    """The JSON shape of an event on the feed: envelope, ``type`` and payload fields."""
    data: dict[str, Any] = {"type": event.type}
    for f in fields(event):
        value = getattr(event, f.name)
        data[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return data


def parse_last_event_id(header: str | None) -> int:
    """The ``seq`` in a ``Last-Event-ID`` header; 0 (from the start) when absent or malformed."""
    try:
        return max(0, int(header or 0))
    except ValueError:
        return 0


class Feed:
    def __init__(self, store: EventStore, redis: Redis, keys: ProjectionKeys, codec: Codec) -> None:
        self._store, self._redis, self._keys, self._codec = store, redis, keys, codec

    async def _stored(self, stream_id: str, after: int, before: int | None) -> list[Event]:
        stored = await self._store.read_stream(stream_id, after)
        events = [self._codec.decode(e.payload) for e in stored if before is None or e.seq < before]
        return [e for e in events if isinstance(e, Event)]

    async def follow(self, stream_id: str, last_seq: int = 0) -> AsyncIterator[Event]:
        """Every event of ``stream_id`` after ``last_seq``, then live ones, each once, in order."""
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._keys.live(stream_id))
        try:
            while (await pubsub.get_message(timeout=5.0) or {}).get("type") != "subscribe":
                pass
            seen = last_seq
            projected = int(await self._redis.hget(self._keys.stream(stream_id), "seq") or 0)
            if projected > seen:
                for event in await self._stored(stream_id, seen, projected + 1):
                    yield event
                    seen = event.seq
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                live = self._codec.decode(message["data"])
                if not isinstance(live, Event) or live.seq <= seen:
                    continue
                for event in [*await self._stored(stream_id, seen, live.seq), live]:
                    yield event
                    seen = event.seq
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()
