"""API latency at a fixed request rate, load generated from a separate process.

Starts ``uvicorn --factory api.app:create_app`` as a subprocess (real Redis and Cassandra), then
sends requests on an open-loop schedule (one every 1/rate s, whether or not earlier ones have
answered) and measures each from its *scheduled* start, so a stalled server is not hidden
(no coordinated omission). Side by side in one run:

- ``GET /api/v1/system/health``: public, no I/O — the floor of the stack (ASGI, middleware);
- ``GET /api/v1/auth/me`` with an API key: key lookup in Cassandra + GCRA in Redis + permission.

Run from the repo root with the stack up:  python -m tests.benchmarks.bench_api [--rate R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid

import httpx

from compose.settings import Settings

ADMIN_PASSWORD = "benchmark admin " + secrets.token_hex(8)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(port: int, keyspace: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QLLM_JWT_SECRET": secrets.token_urlsafe(48),
        "QLLM_API_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "QLLM_API_AUTH_KEYSPACE": keyspace,
        "QLLM_API_REDIS_PREFIX": f"qllm:bench:{keyspace}:",
        "QLLM_API_LOG_LEVEL": "WARNING",
        "QLLM_API_RATE_TIERS": '{"standard": {"limit": 1000000, "window_s": 60}}',
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


async def _wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(100):
        try:
            if (await client.get("/api/v1/system/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the API did not start")


async def _api_key(client: httpx.AsyncClient) -> str:
    login = await client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    created = await client.post(
        "/api/v1/auth/keys", headers=headers, json={"name": "bench", "role": "readonly"}
    )
    created.raise_for_status()
    return str(created.json()["api_key"])


async def _fixed_rate(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], rate: float, seconds: float
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.05

    async def one(scheduled: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        response = await client.get(path, headers=headers)
        latencies.append(time.perf_counter() - scheduled)
        errors += response.status_code != 200

    count = int(rate * seconds)
    await asyncio.gather(*(one(start + i / rate) for i in range(count)))
    return latencies, errors


def _report(name: str, latencies: list[float], errors: int, rate: float) -> float:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"{name:<34} {rate:>6.0f}/s  n={len(ordered):>5}  p50={p50:6.2f} ms  "
        f"p99={p99:6.2f} ms  max={ordered[-1] * 1000:7.2f} ms  errors={errors}"
    )
    return p50


async def main(rate: float, seconds: float) -> None:
    keyspace = f"api_bench_{uuid.uuid4().hex[:8]}"
    port = _free_port()
    server = _start_server(port, keyspace)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=10
        ) as client:
            await _wait_ready(client)
            key = {"X-API-Key": await _api_key(client)}
            await _fixed_rate(client, "/api/v1/auth/me", key, rate, 1.0)  # warm-up
            health = _report(
                "GET /api/v1/system/health",
                *await _fixed_rate(client, "/api/v1/system/health", {}, rate, seconds),
                rate,
            )
            me = _report(
                "GET /api/v1/auth/me (API key)",
                *await _fixed_rate(client, "/api/v1/auth/me", key, rate, seconds),
                rate,
            )
            print(f"ratio p50 authenticated/public: {me / health:.2f}x")
    finally:
        server.terminate()
        server.wait(timeout=10)
        _drop(keyspace)


def _drop(keyspace: str) -> None:
    from cassandra.cluster import Cluster

    host, _, port = Settings().cassandra_contact.rpartition(":")
    cluster = Cluster([host], port=int(port), protocol_version=5)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds))
