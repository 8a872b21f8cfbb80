"""The Faust app of the event backbone, built by ``create_app(settings)`` (never at import).

One agent, ``store_and_project``, at concurrency 1 over the three event topics (DESIGN.md:
concurrency 1 and no Faust tables — state lives in Cassandra and Redis). By default it takes
batches with ``take_events`` (acks after ``handle``, i.e. after both writes). With
``StreamsOptions(pipelined=True)`` (``worker --pipelined``; on this loaded 2-core machine it
measured higher peak throughput in 2 of 3 runs but higher lag at 500–1,000 events/s in all 3,
``tests/benchmarks/events.md``, so it is opt-in) the agent's own loop
only moves events into an ``Intake`` (with Faust's automatic acks off); ``flow.run_pipelined``
batches them while earlier batches are in flight, overlaps batch n+1's Cassandra append with batch
n's Redis step, and acks a batch's events only after both steps of that batch are done, batch
after batch — so Faust commits offsets only after the writes are durable (the ordering argument
is in ``flow``). The consumer's fetch wait is bounded (``transport``). Storing and projecting in
one agent keeps the order "Cassandra, then Redis" per event, which the projection's catch-up from
Cassandra relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust

from compose.heap import freeze_startup_heap
from compose.redis_clients import async_client
from compose.settings import Settings
from producers.publisher import Publisher
from producers.topics import DEADLETTER, EVENT_TOPICS
from schemas.codec import default_codec
from streams.deadletter import KafkaDeadLetters, Message
from streams.flow import Intake, run_pipelined
from streams.pipeline import EventPipeline
from streams.projection import Projection, ProjectionKeys
from streams.store.cassandra import CassandraEventStore, StoreOptions
from streams.transport import DEFAULT_FETCH_MAX_WAIT_MS, App


@dataclass(frozen=True)
class StreamsOptions:
    """Options of the stream processor not in ``Settings`` (the app id names the consumer group)."""

    app_id: str = "qllm-streams"
    batch_size: int = 500  # the most events of one batch (pipelined: under a backlog, batches
    batch_within_s: float = 0.01  # grow to it); an event waits at most this long for company
    intake_limit: int = 4_000  # pipelined: events queued ahead of the batches before Faust waits
    partition_size: int = 500
    strict_store: bool = False  # the processor is its streams' single writer (store/cassandra.py)
    fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS  # Faust's own 1500 ms is a lag floor
    pipelined: bool = False  # True: flow.run_pipelined; off by default, see events.md (lag)

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
    redis = async_client(settings.redis_url)
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


async def _ack_all(stream: Any, events: Sequence[Any]) -> None:
    for event in events:
        await stream.ack(event)


async def _consume(stream: Any, pipeline: EventPipeline, options: StreamsOptions) -> None:
    """Feed the intake from the stream; the batches run in a task beside it (``flow``)."""
    stream.enable_acks = False  # acked by ``run_pipelined`` once a batch's writes are done
    intake: Intake[Any] = Intake(options.intake_limit)
    loop = run_pipelined(
        intake, pipeline, _message, partial(_ack_all, stream),
        options.batch_size, options.batch_within_s,
    )  # fmt: skip
    async with asyncio.TaskGroup() as group:
        group.create_task(loop)
        try:
            async for event in stream.events():
                await intake.put(event)
        finally:
            intake.close()


def create_app(settings: Settings, options: StreamsOptions | None = None) -> faust.App:
    options = options or StreamsOptions.from_settings(settings)
    datadir = settings.home / "streams" / f"{options.app_id}-data"  # Faust's default: the cwd
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last folder
    app = App(
        options.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(datadir),
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
            freeze_startup_heap("stream processor", young_threshold=20_000)  # compose.heap
            if options.pipelined:
                await _consume(stream, pipeline, options)
                return
            async for events in stream.take_events(options.batch_size, options.batch_within_s):
                await pipeline.handle([_message(event) for event in events])

    return app
