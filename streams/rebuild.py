"""Rebuild: drop the Redis projection and fold every stream again from Cassandra.

Deliberate choices:
- A rebuild does not publish on the live channels (subscribers would see old events again); live
  followers dedupe by ``seq`` anyway.
- It may run while the stream processor applies new events. Both write through the same
  ``seq``-guarded script, so a stream's projected ``seq`` never moves backwards, and the processor
  catches up from Cassandra a stream whose hash the drop deleted. The drop is not atomic (a scan,
  then deletes): a stream the processor projects between the deletion of its hash and the
  deletion of the lists keeps its hash but drops out of the lists, and ``apply`` would not list
  it again (its ``seq`` 1 is a duplicate by then). So every rebuilt stream is listed again from
  its first stored event (``Projection.relist``, idempotent) after the drop has finished.
"""

from __future__ import annotations

from redis.asyncio import Redis

from compose.redis_clients import async_client
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
    return await restore(store, redis, keys, codec)


async def restore(store: EventStore, redis: Redis, keys: ProjectionKeys, codec: Codec) -> int:
    """Apply every stored stream onto what the projection holds, and list each one again."""
    projection = Projection(redis, keys, store, codec)
    streams = await store.stream_ids()
    for stream_id in streams:
        stored = await store.read_stream(stream_id)
        items = [(codec.decode(e.payload), e.payload) for e in stored]
        events = [(event, payload) for event, payload in items if isinstance(event, Event)]
        if events:
            await projection.apply(events, publish=False)
        if events and events[0][0].seq == 1:
            await projection.relist(events[0][0])
    return len(streams)


async def rebuild_from_settings(settings: Settings) -> int:
    store = await CassandraEventStore.open(StoreOptions.from_settings(settings))
    redis = async_client(settings.redis_url)
    try:
        return await rebuild(store, redis, ProjectionKeys.from_settings(settings), default_codec())
    finally:
        await redis.aclose()
        await store.close()
