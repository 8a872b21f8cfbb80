"""CPU time per request of our API, in process: the ASGI app called directly, no server, no socket.

Through uvicorn at 1,000 requests/s the latency figures of ``bench_api`` move far more between
runs than a change of a tenth in the API's own cost, so changes to the request path are measured
here: the app that ``create_app`` builds (lifespan run, real Redis and Cassandra, the same
settings as ``bench_api``'s server), a trainer's API key, a job seeded in the projection as the
stream processor writes it, then rounds of requests sent straight into the app, timing this
process's CPU per request. Redis's own CPU is not in it; the client side of its round trip is.

Run from the repo root with the stack up:
    python -m tests.benchmarks.bench_api_cpu [--requests 2000] [--rounds 5]
For a before/after, run it alternately with ``PYTHONPATH`` on each tree (a ``git archive`` of the
earlier commit), e.g. ``PYTHONPATH=/tmp/before python -m tests.benchmarks.bench_api_cpu``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

from tests.benchmarks.bench_api import cleanup, seed_job, server_env, trainer_key

Message = MutableMapping[str, Any]


def _scope(path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip


async def cpu_per_request(
    app: Callable[..., Awaitable[None]], scope: dict[str, Any], requests: int, rounds: int
) -> list[float]:
    """µs of this process's CPU per request, one figure per round; every answer must be 200."""
    statuses: set[int] = set()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    for _ in range(requests // 4):  # warm: caches, pools, the key record
        await app(dict(scope), receive, send)
    per: list[float] = []
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        per.append((time.process_time() - start) / requests * 1e6)
    if statuses != {200}:
        raise RuntimeError(f"{scope['path']} answered {sorted(statuses)}")
    return per


async def run(requests: int, rounds: int) -> None:
    keyspace = f"api_cpu_{uuid.uuid4().hex[:8]}"
    topic_prefix = f"benchcpu{uuid.uuid4().hex[:8]}."
    os.environ.update(server_env(keyspace, topic_prefix))
    from api.app import create_app  # after the environment: the app reads its settings from it

    app = create_app()
    try:
        async with app.router.lifespan_context(app):
            key = await trainer_key("http://api", httpx.ASGITransport(app=app))
            job_id = seed_job(topic_prefix, "admin")
            routes = {
                "GET /api/v1/training/jobs/{id} (API key)": _scope(
                    f"/api/v1/training/jobs/{job_id}", {"host": "api", "X-API-Key": key}
                ),
                "GET /api/v1/system/health (public)": _scope(
                    "/api/v1/system/health", {"host": "api"}
                ),
            }
            print(f"| request | CPU µs per request (median of {rounds} × {requests}) | rounds |")
            print("|---|---|---|")
            for name, scope in routes.items():
                per = await cpu_per_request(app, scope, requests, rounds)
                rounds_text = ", ".join(f"{p:.0f}" for p in per)
                print(f"| {name} | {statistics.median(per):.0f} | {rounds_text} |")
    finally:
        cleanup(keyspace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    asyncio.run(run(args.requests, args.rounds))


if __name__ == "__main__":
    main()
