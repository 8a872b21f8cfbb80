"""Rebuild: drop the Redis projection and fold every stream again from Cassandra.

Deliberate choice: a rebuild does not publish on the live channels (subscribers would see old
events again); live followers dedupe by ``seq`` anyway. Run it with the stream processor stopped,
or accept that events arriving meanwhile are caught up by the processor's gap rule.
"""

from __future__ import annotations

from redis.asyncio import Redis

from compose.settings import Settings
from schemas.codec import Codec, default_codec
from schemas.records import Event
from streams.projection import Projection, ProjectionKeys
from streams.store.base import EventStore
from streams.store.cassandra import CassandraEventStore, StoreOptions


async def drop_projection(redis: Redis, keys: ProjectionKeys) -> int:
    dropped = 0
    async for key in redis.scan_iter(match=f"{keys.prefix}:*", count=1000):
        dropped += await redis.delete(key)
    return dropped


async def rebuild(store: EventStore, redis: Redis, keys: ProjectionKeys, codec: Codec) -> int:
    """Drop every projection key under ``keys.prefix`` and re-apply every stored stream."""
    await drop_projection(redis, keys)
    projection = Projection(redis, keys, store, codec)
    streams = await store.stream_ids()
    for stream_id in streams:
        stored = await store.read_stream(stream_id)
        items = [(codec.decode(e.payload), e.payload) for e in stored]
        events = [(event, payload) for event, payload in items if isinstance(event, Event)]
        if events:
            await projection.apply(events, publish=False)
    return len(streams)


async def rebuild_from_settings(settings: Settings) -> int:
    store = await CassandraEventStore.open(StoreOptions.from_settings(settings))
    redis = Redis.from_url(settings.redis_url)
    try:
        return await rebuild(store, redis, ProjectionKeys.from_settings(settings), default_codec())
    finally:
        await redis.aclose()
        await store.close()
