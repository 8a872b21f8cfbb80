"""Event-backbone benchmarks: codec per event, LWT cost, and sustained Kafka → Cassandra → Redis.

Run from the repo root with the stack up:  python -m tests.benchmarks.bench_events [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from redis.asyncio import Redis

from compose.settings import Settings
from producers.publisher import Publisher, PublisherOptions
from producers.topics import provision
from schemas import jobs
from schemas.codec import default_codec
from schemas.records import Event, command, utc_now
from streams.projection import ProjectionKeys
from streams.store.base import StoredEvent
from streams.store.cassandra import CassandraEventStore, StoreOptions
from streams.store.driver import execute as _execute


def per_call_us(fn: Any, number: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number * 1e6)
    return best


def job_history(job_id: str, steps: int) -> list[Event]:
    state, events = jobs.JobState(), []
    plan: list[tuple[type[Any], dict[str, Any]]] = [
        (
            jobs.StartTraining,
            {"owner": "ann", "model_id": "m", "preset": "tiny", "max_steps": steps},
        ),
        (jobs.ClaimJob, {"worker_id": "w1"}),
        (jobs.MarkJobRunning, {"worker_id": "w1"}),
        *[(jobs.RecordTrainingStep, {"step": i, "loss": 1.0 / i}) for i in range(1, steps + 1)],
    ]
    for cls, payload in plan:
        for event in jobs.decide(state, command(cls, job_id, "ann", **payload)):
            state = jobs.evolve(state, event)
            events.append(event)
    return events


def bench_codec() -> None:
    codec = default_codec()
    print("## codec (per event, single-object framing included; best of 5)")
    print("| record | bytes | encode µs | decode µs | raw fastavro write µs | raw read µs |")
    print("|---|---|---|---|---|---|")
    for event in job_history("job-bench", 1)[:1] + job_history("job-bench", 1)[-1:]:
        data = codec.encode(event)
        writer = codec._writers[type(event)]
        datum = {name: getattr(event, name) for name in writer.names} | {"type": event.type}

        def raw_write(datum: dict[str, Any] = datum, parsed: Any = writer.parsed) -> bytes:
            buffer = io.BytesIO()
            schemaless_writer(buffer, parsed, datum)
            return buffer.getvalue()

        body = raw_write()
        enc = per_call_us(lambda e=event: codec.encode(e), 20_000)
        dec = per_call_us(lambda d=data: codec.decode(d), 20_000)
        rw = per_call_us(raw_write, 20_000)
        rr = per_call_us(
            lambda b=body, p=writer.parsed: schemaless_reader(io.BytesIO(b), p, None), 20_000
        )
        print(f"| {event.type} | {len(data)} | {enc:.2f} | {dec:.2f} | {rw:.2f} | {rr:.2f} |")


async def bench_lwt(settings: Settings, count: int = 2000, concurrency: int = 64) -> None:
    """What the lightweight transaction costs: LWT insert vs batched LWT vs plain insert."""
    options = StoreOptions.from_settings(settings, keyspace="qllm_bench_lwt")
    store = await CassandraEventStore.open(options)
    plain = store._session.prepare(
        "INSERT INTO qllm_bench_lwt.events_by_stream (stream_id, partition_nr, seq, event_id, type,"
        " occurred_us, payload) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    payload = default_codec().encode(job_history("x", 1)[0])

    def batch(stream: str, per_stream: int) -> list[StoredEvent]:
        return [
            StoredEvent(stream, s, str(uuid.uuid4()), "JobRunning", utc_now(), payload)
            for s in range(1, per_stream + 1)
        ]

    async def run(label: str, per_stream: int, write: Any) -> None:
        streams = [f"{label}-{uuid.uuid4().hex}" for _ in range(count // per_stream)]
        gate = asyncio.Semaphore(concurrency)

        async def one(stream: str) -> None:
            async with gate:
                await write(batch(stream, per_stream))

        start = time.perf_counter()
        await asyncio.gather(*(one(s) for s in streams))
        elapsed = time.perf_counter() - start
        print(f"| {label} | {count / elapsed:,.0f} events/s |")

    async def plain_insert(events: list[StoredEvent]) -> None:
        for e in events:
            await _execute(store._session, plain, store._row(e))

    print(f"\n## Cassandra append cost ({count} events, {concurrency} in flight)")
    print("| write | throughput |\n|---|---|")
    await run("plain INSERT (no conflict detection), 1 per stream", 1, plain_insert)
    await run("store.append, LWT, 1 event per call", 1, store.append)
    await run("store.append, conditional batch of 10 per call", 10, store.append)
    await store.close()


async def bench_pipeline(settings: Settings, streams: int, steps: int) -> None:
    tag = uuid.uuid4().hex[:8]
    own = settings.model_copy(
        update={"topic_prefix": f"b{tag}.", "cassandra_keyspace": f"bench_{tag}"}
    )
    await provision(own)
    env = {
        **os.environ,
        "QLLM_TOPIC_PREFIX": own.topic_prefix,
        "QLLM_CASSANDRA_KEYSPACE": own.cassandra_keyspace,
    }
    log = open(tempfile.mktemp(prefix="bench-streams-", suffix=".log"), "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams", "worker"], env=env, stdout=log, stderr=log
    )
    redis = Redis.from_url(own.redis_url)
    keys = ProjectionKeys.from_settings(own)
    histories = [job_history(f"job-{i}-{tag}", steps) for i in range(streams)]
    total = sum(len(h) for h in histories)
    lags: list[float] = []
    try:
        pubsub = redis.pubsub()
        await pubsub.psubscribe(f"{keys.prefix}:live:*")
        async with Publisher(own, PublisherOptions(linger_ms=5)) as publisher:
            warm = job_history(f"warm-{tag}", 1)
            await asyncio.gather(*(publisher.publish(e) for e in warm))
            await _receive(pubsub, len(warm), [])  # the worker is up and has joined its group
            start = time.perf_counter()
            receiving = asyncio.create_task(_receive(pubsub, total, lags))
            ordered = [e for wave in zip(*histories, strict=True) for e in wave]
            for first in range(0, total, 1000):  # sends are queued in call order: seq order holds
                now = utc_now()
                chunk = ordered[first : first + 1000]
                await asyncio.gather(
                    *(publisher.publish(replace(e, occurred_at=now)) for e in chunk)
                )
            await receiving
            elapsed = time.perf_counter() - start
        lags.sort()
        p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
        print(
            f"\n## sustained producer → Kafka → Cassandra → Redis "
            f"({streams} job streams, {total} events)"
        )
        print("| events/s | lag p50 ms | lag p99 ms | lag max ms |\n|---|---|---|---|")
        print(
            f"| {total / elapsed:,.0f} | {p50 * 1e3:.0f} | {p99 * 1e3:.0f} | {lags[-1] * 1e3:.0f} |"
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        await redis.aclose()


async def _receive(pubsub: Any, count: int, lags: list[float]) -> None:
    codec = default_codec()
    received, deadline = 0, time.monotonic() + 120
    while received < count:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {received}/{count} events projected")
            continue
        event = codec.decode(message["data"])
        lags.append((utc_now() - event.occurred_at).total_seconds())
        received += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--steps", type=int, default=47)
    parser.add_argument("--skip-stack", action="store_true")
    args = parser.parse_args()
    bench_codec()
    if not args.skip_stack:
        settings = Settings()
        asyncio.run(bench_lwt(settings))
        asyncio.run(bench_pipeline(settings, args.streams, args.steps))


if __name__ == "__main__":
    main()
