"""The Faust app of the event backbone, built by ``create_app(settings)`` (never at import).

One agent, ``store_and_project``, at concurrency 1 over the three event topics (DESIGN.md:
concurrency 1 and no Faust tables — state lives in Cassandra and Redis). It takes batches with
``take_events``, which acks each event only after the body has handled the batch, so Faust commits
offsets only after the writes are durable. ``take_events`` waits ``batch_within_s`` after every
batch (its timer starts when the previous batch is done, not at the first event), so that wait is
added to every event's lag and kept short; the consumer's fetch wait is bounded (``transport``).
Storing and projecting in one agent keeps the order "Cassandra, then Redis" per event,
which the projection's catch-up from Cassandra relies on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import faust
from redis.asyncio import Redis

from compose.settings import Settings
from producers.publisher import Publisher
from producers.topics import DEADLETTER, EVENT_TOPICS
from schemas.codec import default_codec
from streams.deadletter import KafkaDeadLetters, Message
from streams.pipeline import EventPipeline
from streams.projection import Projection, ProjectionKeys
from streams.store.cassandra import CassandraEventStore, StoreOptions
from streams.transport import DEFAULT_FETCH_MAX_WAIT_MS, App


@dataclass(frozen=True)
class StreamsOptions:
    """Options of the stream processor not in ``Settings`` (the app id names the consumer group)."""

    app_id: str = "qllm-streams"
    batch_size: int = 500
    batch_within_s: float = 0.01  # take_events waits this long after every batch: it is lag
    partition_size: int = 500
    strict_store: bool = False  # the processor is its streams' single writer (store/cassandra.py)
    fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS  # Faust's own 1500 ms is a lag floor

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> StreamsOptions:
        return cls(**{"app_id": f"{settings.topic_prefix}qllm-streams", **overrides})


@asynccontextmanager
async def open_pipeline(
    settings: Settings, options: StreamsOptions
) -> AsyncIterator[EventPipeline]:
    """Connect the store, Redis and the dead-letter producer; close them all on the way out."""
    store_options = StoreOptions.from_settings(
        settings, partition_size=options.partition_size, strict=options.strict_store
    )
    store = await CassandraEventStore.open(store_options)
    redis = Redis.from_url(settings.redis_url)
    publisher = Publisher(settings)
    try:
        await publisher.start()
        projection = Projection(
            redis, ProjectionKeys.from_settings(settings), store, default_codec()
        )
        dead = KafkaDeadLetters(publisher, settings.topic(DEADLETTER))
        yield EventPipeline(default_codec(), store, projection, dead)
    finally:
        await publisher.stop()
        await redis.aclose()
        await store.close()


def _message(event: Any) -> Message:
    m = event.message
    return Message(m.topic, m.partition, m.offset, m.key, m.value)


def create_app(settings: Settings, options: StreamsOptions | None = None) -> faust.App:
    options = options or StreamsOptions.from_settings(settings)
    app = App(
        options.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
    )
    app.fetch_max_wait_ms = options.fetch_max_wait_ms
    topic = app.topic(
        *(settings.topic(name) for name in EVENT_TOPICS),
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(topic, concurrency=1)
    async def store_and_project(stream: Any) -> None:
        async with open_pipeline(settings, options) as pipeline:
            async for events in stream.take_events(options.batch_size, options.batch_within_s):
                await pipeline.handle([_message(event) for event in events])

    return app
