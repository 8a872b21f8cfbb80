"""Consumer-group benchmarks: the inference batcher and the training worker, measured side by side.

Run from the repo root with the stack up:
python -m tests.benchmarks.bench_consumers [--quick] [--only 32] [--training 4]

Inference (vLLM's metric names): TTFT (first streamed chunk), TPOT (time per output token after
the first), ITL (gap between chunks), end-to-end latency, throughput (requests/s, tokens/s), for
closed-loop clients (each sends its next request when its previous answer arrived), every request
streaming, greedy, ``max_tokens`` new tokens, on the ``preset:tiny`` model:
- the same batcher through Kafka (``python -m consumers inference`` in its own process, clients
  publishing commands and consuming results here) vs called in-process;
- a naive server: one HTTP request → one ``engine.generate`` in a thread, no batching;
- static (engine KV cache, whole batches) vs continuous (rows join between steps) batching.
Training: the worker end to end (command → JobSucceeded, every step recorded) vs ``run_job``
alone (the bare loop: same model, data, steps, checkpoints and evaluation).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import torch
import uvicorn
from aiokafka import AIOKafkaConsumer
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.results import RESULTS_FETCH_MAX_WAIT_MS
from compose.settings import Settings
from compose.stack import Stack
from consumers.config import WorkerSettings
from consumers.inference.batcher import Answer, Batcher, Request
from consumers.inference.registry import LoadedModel, ModelRegistry, load_model
from consumers.runtime import WorkerLoop, run_worker, use_torch_threads
from consumers.training import worker as training_worker
from consumers.training.run import JobControl, JobOutcome, JobSpec, run_job
from model import GenerationConfig
from producers.publisher import Publisher
from producers.topics import RESULTS, provision
from schemas.codec import default_codec
from schemas.inference import RunInference
from schemas.jobs import StartTraining
from schemas.records import command
from streams.store.base import StoredEvent
from streams.store.cassandra import CassandraEventStore, StoreOptions

MODEL, MAX_BATCH, MAX_WAIT_S = "preset:tiny", 32, 0.005
STREAM_INTERVAL_S = WorkerSettings().stream_interval_ms / 1000  # the worker's default


@dataclass
class Timeline:
    sent: float
    chunks: list[float] = field(default_factory=list)
    done: float = 0.0
    tokens: int = 0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summarize(lines: list[Timeline], wall: float) -> dict[str, float]:
    ttft = [(t.chunks[0] if t.chunks else t.done) - t.sent for t in lines]
    tpot = [(t.done - t.chunks[0]) / (t.tokens - 1) for t in lines if t.chunks and t.tokens > 1]
    itl = [b - a for t in lines for a, b in zip(t.chunks, t.chunks[1:], strict=False)]
    e2e = [t.done - t.sent for t in lines]
    return {
        "ttft_p50_ms": pct(ttft, 0.5) * 1e3, "tpot_ms": statistics.fmean(tpot or [0]) * 1e3,
        "itl_p50_ms": pct(itl, 0.5) * 1e3, "e2e_p50_ms": pct(e2e, 0.5) * 1e3,
        "e2e_p99_ms": pct(e2e, 0.99) * 1e3, "req_s": len(lines) / wall,
        "tok_s": sum(t.tokens for t in lines) / wall,
    }  # fmt: skip


Submit = Callable[[str, str, Timeline], Awaitable[None]]
Tokens = int | tuple[int, int]  # max_tokens of every request, or a range drawn from per request
VARIED: Tokens = (8, 24)  # mean 16, as the fixed runs: rows finish at different steps


def max_tokens_for(rid: str, tokens: Tokens) -> int:
    """The request's ``max_tokens``: fixed, or drawn from the range by its client and index (the
    same draw for in-process and Kafka runs, so they do the same work)."""
    if isinstance(tokens, int):
        return tokens
    _, client, index = rid.rsplit("-", 2)
    low, high = tokens
    return low + (int(client) * 7919 + int(index) * 104729) % (high - low + 1)


async def closed_loop(clients: int, per_client: int, submit: Submit) -> dict[str, float]:
    lines: list[Timeline] = []

    async def client(c: int) -> None:
        for i in range(per_client):
            line = Timeline(time.perf_counter())
            lines.append(line)
            await submit(f"{uuid.uuid4().hex[:8]}-{c}-{i}", f"def task_{c}_{i}(value):", line)

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return summarize(lines, time.perf_counter() - start)


# -- in-process ----------------------------------------------------------------------------------
class LocalSink:
    def __init__(self) -> None:
        self.lines: dict[str, Timeline] = {}

    async def chunk(self, req: Request, index: int, text: str) -> None:
        self.lines[req.request_id].chunks.append(time.perf_counter())

    async def final(self, req: Request, answer: Answer) -> None:
        line = self.lines.pop(req.request_id)
        line.done, line.tokens = time.perf_counter(), answer.completion_tokens

    async def fail(self, req: Request, reason: str) -> None:
        raise RuntimeError(reason)


async def in_process(clients: int, per: int, tokens: Tokens, continuous: bool = True,
                     interval_s: float = STREAM_INTERVAL_S) -> dict:  # fmt: skip
    sink = LocalSink()
    batcher = Batcher(ModelRegistry(".", 2**30), sink, MAX_BATCH, MAX_WAIT_S, continuous,
                      interval_s)  # fmt: skip

    async def submit(rid: str, prompt: str, line: Timeline) -> None:
        sink.lines[rid] = line
        req = Request(rid, MODEL, "generate", prompt, [], max_tokens_for(rid, tokens), 0.0,
                      stream=True)  # fmt: skip
        batcher.submit(req)
        await req.done

    try:
        await closed_loop(1, 1, submit)  # warm-up: model load
        batcher.metrics.sizes.clear()
        result = await closed_loop(clients, per, submit)
    finally:
        await batcher.close()
    return {**result, "mean_batch": batcher.metrics.mean_size}


# -- through Kafka -------------------------------------------------------------------------------
async def through_kafka(settings: Settings, worker: WorkerSettings, clients: int, per: int,
                        tokens: Tokens) -> dict:  # fmt: skip
    prefix = f"b{uuid.uuid4().hex[:8]}."
    settings = settings.model_copy(update={"topic_prefix": prefix})
    await provision(settings)
    lines: dict[str, Timeline] = {}
    waiting: dict[str, asyncio.Future[None]] = {}
    codec = default_codec()
    consumer = AIOKafkaConsumer(settings.topic(RESULTS), bootstrap_servers=settings.kafka_bootstrap,
                                group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False,
                                fetch_max_wait_ms=RESULTS_FETCH_MAX_WAIT_MS)  # fmt: skip

    async def read() -> None:
        async for m in consumer:
            result, now = codec.decode(m.value), time.perf_counter()
            line = lines.get(result.stream_id)
            if line is None:
                continue
            if result.type == "InferenceChunk":
                line.chunks.append(now)
            else:
                line.done, line.tokens = now, getattr(result, "completion_tokens", 0)
                waiting.pop(result.stream_id).set_result(None)

    log = Path(tempfile.mkdtemp(prefix="bench-infer-")) / "worker.log"
    proc = spawn_worker(settings, worker, log)
    await consumer.start()
    reader = asyncio.create_task(read())
    async with Publisher(settings) as publisher:
        while " owns " not in log.read_text():
            await asyncio.sleep(0.1)

        async def submit(rid: str, prompt: str, line: Timeline) -> None:
            lines[rid], waiting[rid] = line, asyncio.get_running_loop().create_future()
            cmd = command(RunInference, rid, "bench", model_id=MODEL, prompt=prompt,
                          max_tokens=max_tokens_for(rid, tokens), temperature=0.0,
                          stream=True)  # fmt: skip
            await publisher.publish(cmd)
            await waiting[rid]

        await closed_loop(1, 2, submit)  # warm-up: model load, tokenizer
        result = await closed_loop(clients, per, submit)
    proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(proc.wait, 60)
    found = re.search(r"batch sizes: mean ([0-9.]+)", log.read_text())
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await consumer.stop()
    return {**result, "mean_batch": float(found.group(1)) if found else float("nan")}


def spawn_worker(settings: Settings, worker: WorkerSettings, log: Path) -> subprocess.Popen[bytes]:
    """The inference worker in its own process, as deployed (the clients here are the API)."""
    env = {**os.environ, "QLLM_TOPIC_PREFIX": settings.topic_prefix,
           "QLLM_WORKER_MAX_BATCH_SIZE": str(worker.max_batch_size),
           "QLLM_WORKER_MAX_WAIT_MS": str(worker.max_wait_ms),
           "QLLM_WORKER_STREAM_INTERVAL_MS": str(worker.stream_interval_ms)}  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "consumers", "inference"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


# -- naive per-request HTTP server ---------------------------------------------------------------
async def naive_http(loaded: LoadedModel, clients: int, per: int, tokens: int) -> dict:
    config = GenerationConfig(max_new_tokens=tokens, temperature=0.0)

    async def generate(request: HttpRequest) -> JSONResponse:
        prompt = (await request.json())["prompt"]
        result = await asyncio.to_thread(loaded.engine.generate, prompt, config)
        return JSONResponse({"text": result[0].text, "tokens": len(result[0].token_ids)})

    app = Starlette(routes=[Route("/generate", generate, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, port=8765, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url="http://127.0.0.1:8765", limits=limits,
                                 timeout=120) as http:  # fmt: skip

        async def submit(rid: str, prompt: str, line: Timeline) -> None:
            body = (await http.post("/generate", json={"prompt": prompt})).json()
            line.done, line.tokens = time.perf_counter(), body["tokens"]

        result = await closed_loop(clients, per, submit)
    server.should_exit = True
    await serving
    return result


# -- training ------------------------------------------------------------------------------------
def stack_cpu(settings: Settings) -> dict[str, float]:
    """CPU seconds used so far by each server of the local stack (empty if it is not ours)."""
    out, tick = {}, os.sysconf("SC_CLK_TCK")
    for name, record in Stack(settings, echo=lambda _: None).running().items():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick
    return out


@dataclass
class Side:
    """One side's runs, per job: wall seconds; the CPU seconds of the training computation (the
    thread running ``run_job``), of this whole process and of the stack's servers."""

    wall: list[float] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    stack: list[float] = field(default_factory=list)

    async def timed(self, settings: Settings, run: Callable[[], Awaitable[float]]) -> None:
        cpu, servers, computed = time.process_time(), stack_cpu(settings), len(_COMPUTE)
        self.wall.append(await run())
        self.cpu.append(time.process_time() - cpu)
        after = stack_cpu(settings)
        self.stack.append(sum(after[n] - servers[n] for n in servers if n in after))
        [compute] = _COMPUTE[computed:]  # exactly one run_job per job
        self.compute.append(compute)

    def outside(self) -> list[float]:
        """Wall seconds of each job not spent computing the training."""
        return [w - c for w, c in zip(self.wall, self.compute, strict=True)]


_COMPUTE: list[float] = []  # the training thread's CPU seconds, one per run_job


def _computing(run: Callable[..., JobOutcome]) -> Callable[..., JobOutcome]:
    """``run`` recording its thread's CPU time in ``_COMPUTE``."""

    def timed(*args: Any, **kwargs: Any) -> JobOutcome:
        start = time.thread_time()
        try:
            return run(*args, **kwargs)
        finally:
            _COMPUTE.append(time.thread_time() - start)

    return timed


async def training_overhead(
    settings: Settings, steps: int, rounds: int = 2, flush_ms: float = 100.0
) -> dict[str, Any]:
    """``rounds`` pairs of the same job, bare ``run_job`` and through the worker, back to back
    (the machine is shared: pairs keep each comparison within one stretch of its noise); the
    order alternates between pairs, so a drift of the machine does not favour either side.

    The worker's time runs from the command's publish to its ``JobSucceeded``'s ``occurred_at``
    (the worker's clock, this machine's). The store is read twice a second and only from the
    last seen ``seq``: a bench that re-read the whole stream every 50 ms, in the worker's own
    process, took CPU from the job it was timing. Besides the times, each side's CPU: this
    process's (the training thread, and for the worker its event loop's recording too; the
    worker's idle polling runs during both) and the stack's servers' (Kafka, Cassandra, Redis).

    The training computation's own CPU time moves by ±10 % between back-to-back jobs of the same
    code on this machine, more than the overhead measured, so each job's wall time is also split
    into the training thread's CPU time and the rest; the worker's cost is the rest's increase.
    To time the computation inside the worker, ``run_job`` is wrapped where the worker looks it
    up (``consumers.training.worker.run_job``) for the duration of the benchmark.
    """
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    worker = WorkerSettings(worker_id="bench", checkpoint_url=str(tmp / "worker"),
                            checkpoint_every=20, progress_every=1,
                            progress_flush_ms=flush_ms)  # fmt: skip
    use_torch_threads(worker)  # both sides of a pair run in this process, as the worker would
    noop = lambda *args: None  # noqa: E731
    run_job(JobSpec("warm", "tiny", 1, tmp / "warm"), worker, JobControl(), noop, noop)
    settings = settings.model_copy(
        update={
            "topic_prefix": f"b{uuid.uuid4().hex[:8]}.",
            "cassandra_keyspace": f"bench_{uuid.uuid4().hex[:8]}",
        }
    )
    stop, holder = asyncio.Event(), list[WorkerLoop]()
    task = asyncio.create_task(run_worker("training", settings, worker, stop,
                                          on_loop=holder.append))  # fmt: skip
    while not (holder and holder[0].owned):
        await asyncio.sleep(0.1)
    store = await CassandraEventStore.open(StoreOptions.from_settings(settings))
    bare, through, events = Side(), Side(), 0
    async with Publisher(settings) as publisher:

        async def bare_run(r: int) -> float:
            start = time.perf_counter()
            spec = JobSpec(f"bare{r}", "tiny", steps, tmp / f"bare{r}")
            await asyncio.to_thread(_computing(run_job), spec, worker, JobControl(), noop, noop)
            return time.perf_counter() - start

        async def worker_run(r: int) -> float:
            nonlocal events
            start = time.time()
            start_job = command(StartTraining, f"job{r}", "bench", owner="bench", model_id="m",
                                preset="tiny", max_steps=steps)  # fmt: skip
            await publisher.publish(start_job)
            seen: list[StoredEvent] = []
            while not (done := [e for e in seen if e.type == "JobSucceeded"]):
                await asyncio.sleep(0.5)
                seen += await store.read_stream(f"job{r}", seen[-1].seq if seen else 0)
            events = len(seen)
            return done[0].occurred_at.timestamp() - start

        training_worker.run_job = _computing(run_job)
        try:
            for r in range(rounds):
                sides = [(bare, bare_run), (through, worker_run)]
                for side, run in sides if r % 2 == 0 else sides[::-1]:
                    await side.timed(settings, functools.partial(run, r))
        finally:
            training_worker.run_job = run_job
    await store.close()
    stop.set()
    await task
    pairs = [t / b - 1 for b, t in zip(bare.wall, through.wall, strict=True)]  # in run order
    added = [(t - b) / w for b, t, w in zip(bare.outside(), through.outside(), bare.wall,
                                            strict=True)]  # fmt: skip
    compute = [t / b - 1 for b, t in zip(bare.compute, through.compute, strict=True)]
    med = statistics.median
    return {"bare_s": med(bare.wall), "worker_s": med(through.wall), "events": events,
            "overhead": med(pairs), "pairs": pairs,
            "outside_bare_s": med(bare.outside()), "outside_worker_s": med(through.outside()),
            "added": med(added), "compute": med(compute), "compute_pairs": compute,
            "best_overhead": min(through.wall) / min(bare.wall) - 1,
            "cpu_bare_s": med(bare.cpu), "cpu_worker_s": med(through.cpu),
            "stack_bare_s": med(bare.stack), "stack_worker_s": med(through.stack)}  # fmt: skip


# -- report --------------------------------------------------------------------------------------
def row(name: str, r: dict[str, Any]) -> str:
    keys = ("ttft_p50_ms", "tpot_ms", "itl_p50_ms", "e2e_p50_ms", "e2e_p99_ms", "req_s", "tok_s",
            "mean_batch")  # fmt: skip
    return f"| {name} | " + " | ".join(f"{r.get(k, float('nan')):.1f}" for k in keys) + " |"


async def main(
    quick: bool, only: list[int] | None = None, per_client: int = 0, varied: bool = False
) -> None:
    """``only``: just these client counts through Kafka and in-process (an A/B of a setting:
    run it alternately with the setting changed in the environment)."""
    settings = Settings()
    tokens, per = 16, per_client or (2 if quick else 4)
    levels = only or ((1, 8, 32) if quick else (1, 8, 32, 64))
    worker = WorkerSettings(worker_id="bench", max_batch_size=MAX_BATCH,
                            max_wait_ms=MAX_WAIT_S * 1000)  # fmt: skip
    use_torch_threads(worker)  # the in-process runs and the bare loop as the worker runs them
    print(f"torch intra-op threads: {torch.get_num_threads()} (QLLM_WORKER_TORCH_THREADS)")
    loaded = load_model(Path("."), MODEL, "cpu")
    header = ("| run | TTFT p50 ms | TPOT ms | ITL p50 ms | E2E p50 ms | E2E p99 ms | req/s | "
              "tok/s | mean batch |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    print(header)
    results: dict[str, dict[str, Any]] = {}
    runs: list[tuple[int, str, Tokens]] = [(n, "", tokens) for n in levels]
    if not only:
        runs.append((32, ", 8-24 tokens", VARIED))
    elif varied:
        runs += [(n, ", 8-24 tokens", VARIED) for n in levels]
    for n, label, lengths in runs:
        for name, run in (
            (f"in-process, {n} clients{label}", in_process(n, per, lengths)),
            (f"Kafka, {n} clients{label}", through_kafka(settings, worker, n, per, lengths)),
        ):
            results[name] = await run
            print(row(name, results[name]), flush=True)
        kafka = results[f"Kafka, {n} clients{label}"]
        local = results[f"in-process, {n} clients{label}"]
        ratio, added = kafka["req_s"] / local["req_s"], kafka["e2e_p50_ms"] - local["e2e_p50_ms"]
        print(f"Kafka / in-process at {n} clients{label}: {ratio:.2f}x, added p50 {added:.1f} ms",
              flush=True)  # fmt: skip
    if only:
        return
    await naive_http(loaded, 1, 1, tokens)  # warm-up
    results["naive"] = await naive_http(loaded, 32, per, tokens)
    print(row("naive HTTP, 32 clients", results["naive"]), flush=True)
    results["static"] = await in_process(32, per, tokens, continuous=False)
    print(row("in-process static, 32 clients", results["static"]), flush=True)
    k32, p32 = results["Kafka, 32 clients"], results["in-process, 32 clients"]
    print(
        f"\nKafka / in-process throughput at 32 clients: {k32['req_s'] / p32['req_s']:.2f}x; "
        f"added p50 latency {k32['e2e_p50_ms'] - p32['e2e_p50_ms']:.1f} ms"
    )
    print(
        f"Kafka batcher / naive HTTP throughput at 32 clients: "
        f"{k32['req_s'] / results['naive']['req_s']:.2f}x"
    )
    print(
        f"continuous / static throughput at 32 clients: "
        f"{p32['req_s'] / results['static']['req_s']:.2f}x"
    )
    # before/after side by side: one record per token vs chunks per stream interval
    per_token = worker.model_copy(update={"stream_interval_ms": 0.0})
    k0 = await through_kafka(settings, per_token, 32, per, tokens)
    p0 = await in_process(32, per, tokens, interval_s=0.0)
    print(row("Kafka, 32 clients, a chunk per token (before)", k0))
    print(row("in-process, 32 clients, a chunk per token (before)", p0))
    print(
        f"before: Kafka / in-process {k0['req_s'] / p0['req_s']:.2f}x, added p50 "
        f"{k0['e2e_p50_ms'] - p0['e2e_p50_ms']:.1f} ms"
    )
    await report_training(settings, 30 if quick else 60, 2 if quick else 4)


async def report_training(settings: Settings, steps: int, rounds: int) -> None:
    train = await training_overhead(settings, steps, rounds)
    pairs = ", ".join(f"{p * 100:+.1f}%" for p in train["pairs"])  # odd ones: the worker first
    cpu_bare, cpu_worker = train["cpu_bare_s"], train["cpu_worker_s"]
    compute = ", ".join(f"{p * 100:+.1f}%" for p in train["compute_pairs"])
    print(
        f"training {steps} steps, {rounds} pairs: bare {train['bare_s']:.2f} s, through the "
        f"worker {train['worker_s']:.2f} s (medians; {train['events']} events) → overhead "
        f"{train['overhead'] * 100:+.1f}% (median of the pairs, in run order, bare first in the "
        f"1st, 3rd …: {pairs}); best of each side "
        f"{train['best_overhead'] * 100:+.1f}%\n"
        f"  CPU per job (medians): this process {cpu_bare:.2f} s bare, {cpu_worker:.2f} s "
        f"worker ({cpu_worker / cpu_bare - 1:+.1%}); the stack's servers "
        f"{train['stack_bare_s']:.2f} s bare, {train['stack_worker_s']:.2f} s worker\n"
        f"  the training computation's CPU time, worker / bare: {train['compute'] * 100:+.1f}% "
        f"(median of the pairs: {compute}); wall time outside it: {train['outside_bare_s']:.2f} s"
        f" bare, {train['outside_worker_s']:.2f} s worker (medians) → the worker adds "
        f"{train['added'] * 100:+.1f}% of the bare job's time (median of the pairs)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="client counts, e.g. 32: inference A/B only")
    parser.add_argument("--per", type=int, default=0, help="requests per client (2 quick, 4)")
    parser.add_argument("--varied", action="store_true", help="with --only: also 8-24 tokens")
    parser.add_argument("--training", type=int, default=0,
                        help="only the training overhead, this many pairs")  # fmt: skip
    args = parser.parse_args()
    levels = [int(n) for n in args.only.split(",") if n] or None
    if args.training:
        asyncio.run(report_training(Settings(), 60, args.training))
    else:
        asyncio.run(main(args.quick, levels, args.per, args.varied))
