"""Event-backbone benchmarks: codec per event, LWT cost, and sustained Kafka → Cassandra → Redis.

Run from the repo root with the stack up:  python -m tests.benchmarks.bench_events [--events N]

The sustained run is the stream processor as the product runs it (``python -m streams worker``:
the ``take_events`` loop); ``--pipelined`` also runs the opt-in pipelined loop after it. (Until
2026-11-24 the main run was the pipelined loop and ``--baseline`` added the default one.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from aiokafka import AIOKafkaProducer
from fastavro import schemaless_reader, schemaless_writer
from redis.asyncio import Redis

from compose.settings import Settings
from producers.topics import key_for, provision, topic_for
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
    """What an append costs: plain insert vs the store's fast mode vs its strict (LWT) mode."""
    options = StoreOptions.from_settings(settings, keyspace="qllm_bench_lwt", strict=False)
    fast = await CassandraEventStore.open(options)
    strict = await CassandraEventStore.open(replace(options, strict=True))
    plain = fast._session.prepare(
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
        streams = [f"{label[:8]}-{uuid.uuid4().hex}" for _ in range(count // per_stream)]
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
            await _execute(fast._session, plain, fast._row(e))

    print(f"\n## Cassandra append cost ({count} events, {concurrency} in flight)")
    print("| write | throughput |\n|---|---|")
    await run("plain INSERT, no index, no conflict detection, 1 per stream", 1, plain_insert)
    for per_stream in (1, 10):
        await run(f"store.append fast, {per_stream} per call", per_stream, fast.append)
        await run(f"store.append strict (LWT), {per_stream} per call", per_stream, strict.append)
    await fast.close()
    await strict.close()


class _Receiver:
    """Follows every live channel of a prefix; the lag of each event as it becomes visible."""

    def __init__(self, redis: Redis, keys: ProjectionKeys) -> None:
        self._redis, self._keys = redis, keys
        self.received = 0
        self.lags: list[float] = []
        self.last_at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Receiver:
        pubsub = self._redis.pubsub()
        await pubsub.psubscribe(f"{self._keys.prefix}:live:*")
        self._task = asyncio.create_task(self._run(pubsub))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def _run(self, pubsub: Any) -> None:
        codec = default_codec()
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            now = time.time()
            occurred = codec.decode(message["data"]).occurred_at.timestamp()
            self.lags.append(now - occurred)
            self.received += 1
            self.last_at = time.perf_counter()

    def reset(self) -> None:
        self.received, self.lags = 0, []

    async def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.received < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.received}/{count} events projected")
            await asyncio.sleep(0.01)


ACTIVE_STREAMS = 50


def _interleaved(tag: str, count: int, steps: int = 47) -> list[Event]:
    """``count`` events of 50-event job histories, ``ACTIVE_STREAMS`` jobs running at a time,
    their events interleaved in waves (``seq`` order per stream)."""
    streams = -(-count // (steps + 3))
    histories = [job_history(f"job-{i}-{tag}", steps) for i in range(streams)]
    ordered: list[Event] = []
    for first in range(0, streams, ACTIVE_STREAMS):
        group = histories[first : first + ACTIVE_STREAMS]
        ordered += [e for wave in zip(*group, strict=True) for e in wave]
    return ordered[:count]


async def _send(producer: AIOKafkaProducer, own: Settings, event: Event) -> None:
    fresh = replace(event, occurred_at=utc_now())
    await producer.send(topic_for(fresh, own), default_codec().encode(fresh), key=key_for(fresh))


async def _max_throughput(
    producer: AIOKafkaProducer, own: Settings, receiver: _Receiver, count: int
) -> tuple[float, float]:
    """All ``count`` events as fast as the producer goes: (produced/s, projected/s end to end)."""
    events = _interleaved(uuid.uuid4().hex[:8], count)
    receiver.reset()
    start = time.perf_counter()
    for event in events:
        await _send(producer, own, event)
    await producer.flush()
    produced = time.perf_counter() - start
    await receiver.wait_for(count, 300)
    return count / produced, count / (receiver.last_at - start)


async def _fixed_rate(
    producer: AIOKafkaProducer, own: Settings, receiver: _Receiver, rate: int, seconds: float
) -> tuple[float, list[float]]:
    """Offer ``rate`` events/s for ``seconds``; the offered rate reached and the sorted lags."""
    count = int(rate * seconds)
    events = _interleaved(uuid.uuid4().hex[:8], count)
    receiver.reset()
    start, sent = time.perf_counter(), 0
    while sent < count:
        due = min(count, int((time.perf_counter() - start) * rate) + 1)
        for event in events[sent:due]:
            await _send(producer, own, event)
        sent = due
        await asyncio.sleep(0.002)
    offered = count / (time.perf_counter() - start)
    await producer.flush()
    await receiver.wait_for(count, 300)
    return offered, sorted(receiver.lags)


@contextlib.contextmanager
def _worker(
    own: Settings, strict: bool, pipelined: bool = False, processes: int = 1
) -> Iterator[None]:
    env = {
        **os.environ,
        "QLLM_TOPIC_PREFIX": own.topic_prefix,
        "QLLM_CASSANDRA_KEYSPACE": own.cassandra_keyspace,
    }
    flags = [*(["--strict-store"] if strict else []), *(["--pipelined"] if pipelined else [])]
    args = [sys.executable, "-m", "streams", "worker", *flags]
    log = open(tempfile.mktemp(prefix="bench-streams-", suffix=".log"), "wb")  # noqa: SIM115
    workers = [subprocess.Popen(args, env=env, stdout=log, stderr=log) for _ in range(processes)]
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        log.close()


async def bench_pipeline(
    settings: Settings, strict: bool, count: int, rates: list[int], seconds: float,
    pipelined: bool = False, processes: int = 1,
) -> None:  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    own = settings.model_copy(
        update={"topic_prefix": f"b{tag}.", "cassandra_keyspace": f"bench_{tag}"}
    )
    await provision(own)
    redis = Redis.from_url(own.redis_url)
    producer = AIOKafkaProducer(
        bootstrap_servers=own.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    mode = "strict (LWT)" if strict else "fast (read + plain writes)"
    mode += ", pipelined loop (opt-in)" if pipelined else ", take_events loop (the default)"
    mode += f", {processes} stream processor processes" if processes > 1 else ""
    try:
        with _worker(own, strict, pipelined, processes):
            async with _Receiver(redis, ProjectionKeys.from_settings(own)) as receiver:
                warm = job_history(f"warm-{tag}", 1)
                for event in warm:
                    await _send(producer, own, event)
                await receiver.wait_for(len(warm), 120)  # the worker is up and owns its partitions
                print(
                    f"\n## producer → Kafka → Faust → Cassandra → Redis, store {mode}, "
                    f"{ACTIVE_STREAMS} job streams active at a time"
                )
                print("| offered events/s | reached | lag p50 ms | lag p99 ms | lag max ms |")
                print("|---|---|---|---|---|")
                for rate in rates:
                    offered, lags = await _fixed_rate(producer, own, receiver, rate, seconds)
                    p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
                    print(
                        f"| {rate:,} for {seconds:.0f} s | {offered:,.0f} | {p50 * 1e3:.0f} "
                        f"| {p99 * 1e3:.0f} | {lags[-1] * 1e3:.0f} |"
                    )
                produced, projected = await _max_throughput(producer, own, receiver, count)
                print(
                    f"\nmax sustained ({count:,} events as fast as the producer goes): "
                    f"produced {produced:,.0f} events/s, **projected {projected:,.0f} events/s** "
                    "(first send → last event visible in Redis)"
                )
    finally:
        await producer.stop()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=30_000, help="max-throughput run size")
    parser.add_argument("--rates", default="1000,2500,5000", help="fixed offered rates, events/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each fixed rate")
    parser.add_argument("--strict-events", type=int, default=0, help="also run strict mode")
    parser.add_argument("--skip-stack", action="store_true")
    parser.add_argument(
        "--pipelined", action="store_true", help="also run the opt-in pipelined loop"
    )
    parser.add_argument("--skip-lwt", action="store_true", help="skip the append-cost table")
    parser.add_argument(
        "--processes", type=int, default=1, help="stream processor processes (one consumer group)"
    )
    args = parser.parse_args()
    bench_codec()
    if not args.skip_stack:
        settings = Settings()
        rates = [int(r) for r in args.rates.split(",") if r]
        if not args.skip_lwt:
            asyncio.run(bench_lwt(settings))
        print(f"\nload average at start: {os.getloadavg()}")
        run = (settings, False, args.events, rates, args.seconds)
        asyncio.run(bench_pipeline(*run, processes=args.processes))
        if args.pipelined:
            print(f"\nload average: {os.getloadavg()}")
            asyncio.run(bench_pipeline(*run, pipelined=True, processes=args.processes))
        if args.strict_events:
            print(f"\nload average: {os.getloadavg()}")
            asyncio.run(bench_pipeline(settings, True, args.strict_events, [500], args.seconds))
        print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
