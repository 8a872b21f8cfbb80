"""API latency at fixed request rates, load generated from a separate process, beside Celery.

Starts, as subprocesses: our API (``uvicorn --factory api.app:create_app --loop uvloop --http
httptools``, real Kafka, Redis, Cassandra), and the Celery baseline (``bench_api_celery``: a
FastAPI app on uvicorn enqueueing on a Redis broker, and a Celery worker). This process is only
the load generator: an open-loop schedule (request *i* is due at ``start + i/rate`` whether or not
earlier ones answered), latency measured from the *scheduled* start (no coordinated omission),
over keep-alive connections with a minimal HTTP/1.1 client (``httptools`` parser) so the client
costs far less CPU than the servers.

Side by side in one run:
- ``POST /api/v1/training/jobs`` (API key, trainer) — 202 only after Kafka's acknowledgement;
- ``GET /api/v1/training/jobs/{id}`` (API key) — the job's status from the Redis projection (the
  job's projection entry is seeded the way the stream processor writes it, as no training worker
  runs here: the read path is the API's);
- Celery: ``POST /jobs`` (``apply_async`` on the Redis broker) and ``GET /jobs/{id}`` (the result
  backend's state), at the same rates.

Run from the repo root with the stack up:
    python -m tests.benchmarks.bench_api [--post-rate 200] [--get-rate 1000] [--seconds 10]
                                         [--workers 1]
``--server-root DIR`` serves our API from another tree (a ``git archive`` of an earlier commit:
the before figures).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httptools
import httpx
import redis

from compose.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "benchmark admin " + secrets.token_hex(8)
JOB = {"preset": "tiny", "dataset_id": "default", "max_steps": 5}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _uvicorn(target: str, port: int, *, factory: bool, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "uvicorn", *(["--factory"] if factory else []), target,
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http",
            "httptools", "--log-level", "warning", "--no-access-log",
            "--workers", str(workers)]  # fmt: skip


def server_env(keyspace: str, topic_prefix: str) -> dict[str, str]:
    """Our API's settings for a benchmark: its own auth keyspace, Redis prefix and topics, a
    bootstrapped admin, and a rate tier no run reaches."""
    return {
        "QLLM_JWT_SECRET": secrets.token_urlsafe(48),
        "QLLM_TOPIC_PREFIX": topic_prefix,
        "QLLM_API_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "QLLM_API_AUTH_KEYSPACE": keyspace,
        "QLLM_API_REDIS_PREFIX": f"qllm:bench:{keyspace}:",
        "QLLM_API_LOG_LEVEL": "WARNING",
        "QLLM_API_RATE_TIERS": '{"standard": {"limit": 1000000, "window_s": 60}}',
        "QLLM_API_DATA_ROOT": f"/tmp/{keyspace}",
    }


def _ours(
    port: int, keyspace: str, topic_prefix: str, root: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{root}{os.pathsep}{ROOT}",
        **server_env(keyspace, topic_prefix),
    }
    command = _uvicorn("api.app:create_app", port, factory=True, workers=workers)
    return subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL)


def _celery(port: int) -> list[subprocess.Popen[bytes]]:
    # the stack's Redis (its port follows the settings), db 7: never the platform's keys
    redis_url = Settings().redis_url.rsplit("/", 1)[0] + "/7"
    env = {"BENCH_CELERY_REDIS": redis_url, **os.environ, "PYTHONPATH": str(ROOT)}
    module = "tests.benchmarks.bench_api_celery"
    worker = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        module,
        "worker",
        "--pool=solo",
        "--loglevel=warning",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    app = _uvicorn(f"{module}:app", port, factory=False)
    return [subprocess.Popen(c, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for c in (worker, app)]  # fmt: skip


class _Response:
    def __init__(self) -> None:
        self.done, self.body = False, bytearray()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done = True


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        response = _Response()
        parser = httptools.HttpResponseParser(response)
        while not response.done:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("closed")
            parser.feed_data(chunk)
        return parser.get_status_code(), bytes(response.body)


def raw_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Result:
    name: str
    rate: float
    latencies: list[float]
    errors: int

    def line(self) -> str:
        ordered = sorted(self.latencies)
        n = len(ordered)
        p50, p99 = ordered[n // 2] * 1000, ordered[max(0, int(n * 0.99) - 1)] * 1000
        return (f"| {self.name} | {self.rate:.0f}/s | {n} | {p50:.2f} ms | {p99:.2f} ms | "
                f"{ordered[-1] * 1000:.1f} ms | {self.errors} |")  # fmt: skip


async def fixed_rate(port: int, name: str, raws: list[bytes], rate: float, ok: int) -> Result:
    """Send ``raws`` (cycled) at ``rate``/s over a pool of keep-alive connections.

    Each request is started by a loop timer at its scheduled time, so only the requests in flight
    exist as tasks (it used to create all 10,000 up front: work at the schedule's start, and
    10,000 coroutines for every collection to scan). The collector is off during the run: the
    load generator's garbage is acyclic, and its collection pauses would be counted as the
    server's latency.
    """
    loop = asyncio.get_running_loop()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(Connection(*await asyncio.open_connection("127.0.0.1", port)))
    latencies: list[float] = []
    errors = 0
    done: asyncio.Future[None] = loop.create_future()
    running: set[asyncio.Task[None]] = set()

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            status, _ = await conn.request(raws[i % len(raws)])
        except Exception as exc:  # a broken connection ends the run with its error
            if not done.done():
                done.set_exception(exc)
            return
        finally:
            pool.put_nowait(conn)
        latencies.append(loop.time() - scheduled)
        errors += status != ok
        if len(latencies) == len(raws):
            done.set_result(None)

    def launch(i: int, scheduled: float) -> None:
        task = loop.create_task(one(i, scheduled))
        running.add(task)
        task.add_done_callback(running.discard)

    gc.collect()
    gc.disable()
    try:
        start = loop.time() + 0.1
        for i in range(len(raws)):
            loop.call_at(start + i / rate, launch, i, start + i / rate)
        await done
    finally:
        gc.enable()
    while not pool.empty():
        pool.get_nowait().writer.close()
    return Result(name, rate, latencies, errors)


async def _wait(base: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        for _ in range(300):
            try:
                if (await client.get(path)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not start")


async def trainer_key(base: str, transport: httpx.AsyncBaseTransport | None = None) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30, transport=transport) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        login.raise_for_status()
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        body = {"name": "bench", "role": "trainer", "tier": "standard"}
        created = await client.post("/api/v1/auth/keys", headers=admin, json=body)
        created.raise_for_status()
        return str(created.json()["api_key"])


def seed_job(topic_prefix: str, owner: str) -> str:
    """A job in the projection, as the stream processor writes it (hash: kind, seq, state)."""
    from schemas.jobs import JobState, JobStatus
    from schemas.snapshot import to_json
    from streams.projection import ProjectionKeys

    settings = Settings(topic_prefix=topic_prefix)
    job_id = f"job-{uuid.uuid4().hex}"
    state = JobState(job_id=job_id, version=3, status=JobStatus.RUNNING, owner=owner,
                     model_id="model-bench", preset="tiny", max_steps=5, step=2)  # fmt: skip
    key = ProjectionKeys.from_settings(settings).stream(job_id)
    redis.Redis.from_url(settings.redis_url).hset(
        key, mapping={"kind": "job", "seq": 3, "state": to_json(state)}
    )
    return job_id


async def run(args: argparse.Namespace) -> list[Result]:
    keyspace = f"api_bench_{uuid.uuid4().hex[:8]}"
    topic_prefix = f"bench{uuid.uuid4().hex[:8]}."
    ours_port, celery_port = _free_port(), _free_port()
    procs = [_ours(ours_port, keyspace, topic_prefix, Path(args.server_root), args.workers),
             *_celery(celery_port)]  # fmt: skip
    seconds = args.seconds
    try:
        ours, theirs = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{celery_port}"
        await _wait(ours, "/api/v1/system/health")
        await _wait(theirs, "/jobs/none")
        key = {"X-API-Key": await trainer_key(ours), "Content-Type": "application/json"}
        job_id = seed_job(topic_prefix, "admin")
        post = raw_request("POST", "/api/v1/training/jobs", key, json.dumps(JOB).encode())
        get = raw_request("GET", f"/api/v1/training/jobs/{job_id}", key)
        c_post = raw_request("POST", "/jobs", {"Content-Type": "application/json"},
                             json.dumps(JOB).encode())  # fmt: skip
        c_get = raw_request("GET", "/jobs/" + "x" * 36, {})
        # warm-up: the publisher (topics, producer), the key cache, the Celery connections
        await fixed_rate(ours_port, "warm", [post] * 50, 50, 202)
        await fixed_rate(ours_port, "warm", [get] * 200, 200, 200)
        await fixed_rate(celery_port, "warm", [c_post] * 50, 50, 202)
        n_post, n_get = int(args.post_rate * seconds), int(args.get_rate * seconds)
        results = [
            await fixed_rate(ours_port, "ours: POST /api/v1/training/jobs (Kafka ack)",
                             [post] * n_post, args.post_rate, 202),
            await fixed_rate(celery_port, "Celery: POST /jobs (apply_async, Redis broker)",
                             [c_post] * n_post, args.post_rate, 202),
            await fixed_rate(ours_port, "ours: GET /api/v1/training/jobs/{id}",
                             [get] * n_get, args.get_rate, 200),
            await fixed_rate(celery_port, "Celery: GET /jobs/{id} (result backend)",
                             [c_get] * n_get, args.get_rate, 200),
        ]  # fmt: skip
        return results
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
        cleanup(keyspace)


def cleanup(keyspace: str) -> None:
    from cassandra.cluster import Cluster

    host, _, port = Settings().cassandra_contact.rpartition(":")
    cluster = Cluster([host], port=int(port), protocol_version=5)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
    finally:
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--post-rate", type=float, default=200.0)
    parser.add_argument("--get-rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--server-root", default=str(ROOT), help="tree our API is served from")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (ours)")
    args = parser.parse_args()
    import celery

    print(f"load average before: {os.getloadavg()}; celery {celery.__version__}")
    results = asyncio.run(run(args))
    print("| endpoint | rate | n | p50 | p99 | max | errors |\n|---|---|---|---|---|---|---|")
    for result in results:
        print(result.line())
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
