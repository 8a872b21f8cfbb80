"""Helpers of the consumer tests: a running worker, publishing, reading the event store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.loop import WorkerLoop
from consumers.runtime import run_worker
from producers.publisher import Publisher
from producers.topics import provision
from schemas.codec import default_codec
from schemas.records import Event, Record
from streams.store.cassandra import CassandraEventStore, StoreOptions


@contextlib.asynccontextmanager
async def running_worker(
    role: str, settings: Settings, worker: WorkerSettings
) -> AsyncIterator[WorkerLoop]:
    """A worker of ``role`` running in this event loop until the block ends (then stopped)."""
    stop, holder = asyncio.Event(), []
    task = asyncio.create_task(run_worker(role, settings, worker, stop, on_loop=holder.append))
    try:
        await wait_until(lambda: bool(holder and holder[0].owned) or task.done(), 60)
        if task.done():
            task.result()
        yield holder[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def wait_until(check: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(step_s)


async def publish(settings: Settings, *records: Record) -> None:
    await provision(settings)
    async with Publisher(settings) as publisher:
        for record in records:
            await publisher.publish(record)


@contextlib.asynccontextmanager
async def event_store(settings: Settings) -> AsyncIterator[CassandraEventStore]:
    store = await CassandraEventStore.open(StoreOptions.from_settings(settings))
    try:
        yield store
    finally:
        await store.close()


async def read_stream(store: CassandraEventStore, stream_id: str) -> list[Event]:
    codec = default_codec()
    events = []
    for stored in await store.read_stream(stream_id):
        event = codec.decode(stored.payload)
        assert isinstance(event, Event)
        events.append(event)
    return events


async def wait_for_stream(
    store: CassandraEventStore,
    stream_id: str,
    done: Callable[[list[Event]], bool],
    timeout_s: float = 60,
) -> list[Event]:
    deadline = time.monotonic() + timeout_s
    while True:
        events = await read_stream(store, stream_id)
        if done(events):
            return events
        if time.monotonic() > deadline:
            types = [e.type for e in events]
            raise TimeoutError(f"stream {stream_id} not done within {timeout_s}s: {types}")
        await asyncio.sleep(0.2)


def types_of(events: list[Event]) -> list[str]:
    return [e.type for e in events]


async def read_results(
    settings: Settings, done: Callable[[list[tuple[Record, str]]], bool], timeout_s: float = 60
) -> list[tuple[Record, str]]:
    """``(result, "chunk" | "final")`` pairs from the results topic until ``done`` says so."""
    from aiokafka import AIOKafkaConsumer

    from producers.topics import RESULTS

    consumer = AIOKafkaConsumer(
        settings.topic(RESULTS),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[tuple[Record, str]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(found):
            if time.monotonic() > deadline:
                raise TimeoutError(f"results not complete within {timeout_s}s: {len(found)} read")
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                for m in messages:
                    result = default_codec().decode(m.value)
                    found.append((result, "chunk" if result.type == "InferenceChunk" else "final"))
    finally:
        await consumer.stop()
    return found
