"""A fixed-rate load against the REST API, run as its own process; writes a JSON report.

    QLLM_LOAD_API_KEY=KEY python -m tests.reliability.loadgen --base-url URL --duration-s 120 \
        --out report.json

Four operations, each started at its own fixed rate (open loop: a request is started on time
whether or not the previous one finished, up to ``MAX_IN_FLIGHT`` per operation; one that could
not start, or had no job to read or follow yet, is counted as ``skipped``, not as a success):
job submissions (tiny jobs), status reads of a submitted
job, SSE followers (the log of the newest job, followed to its terminal event; the frame ids must
be contiguous) and inference (``/api/v1/inference/generate``, a few tokens, greedy). The report
holds per operation: count, ok, errors by status, throughput, p50/p99 latency; and every job id
answered ``202``, so the caller can account for each one.

Deliberate choice: asyncio + httpx (already a dependency), not Locust: one process, fixed rates
per operation and an SSE follower are a few lines here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

JOB = {"preset": "tiny", "max_steps": 2}  # the default retry budget (2)
GENERATE = {"model": "preset:tiny", "prompt": "def add(a, b):", "max_tokens": 4,
            "temperature": 0.0}  # fmt: skip
RATES_PER_S = {"submit": 0.25, "status": 4.0, "sse_follow": 0.1, "inference": 0.5}
MAX_IN_FLIGHT = 16
PROJECTION_LAG_S = 5.0
TERMINAL_FRAMES = ("JobSucceeded", "JobFailed", "JobCancelled")


@dataclass
class Operation:
    latencies_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    in_flight: int = 0

    def report(self, duration_s: float) -> dict[str, Any]:
        ok = sorted(self.latencies_s)

        def quantile(q: float) -> float | None:
            if not ok:
                return None
            return round(1000 * (ok[0] if len(ok) == 1 else statistics.quantiles(
                ok, n=100, method="inclusive")[int(q * 100) - 1]), 1)  # fmt: skip

        return {"count": len(ok) + sum(self.errors.values()), "ok": len(ok),
                "errors": dict(self.errors), "skipped": self.skipped,
                "throughput_per_s": round(len(ok) / duration_s, 3),
                "p50_ms": quantile(0.50), "p99_ms": quantile(0.99)}  # fmt: skip


@dataclass
class Load:
    http: httpx.AsyncClient
    ops: dict[str, Operation] = field(default_factory=lambda: {n: Operation() for n in RATES_PER_S})
    jobs: list[str] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)
    sse_problems: list[str] = field(default_factory=list)

    async def submit(self) -> None:
        answer = await self.http.post("/api/v1/training/jobs", json=JOB)
        _expect(answer, 202)
        self.jobs.append(str(answer.json()["id"]))
        self.accepted_at.append(time.monotonic())

    async def status(self) -> None:
        """A job accepted at least ``PROJECTION_LAG_S`` ago: right after its ``202`` the
        projection may not hold it yet (404), which is not an error of the load."""
        settled = [j for j, at in zip(self.jobs, self.accepted_at, strict=True)
                   if time.monotonic() - at >= PROJECTION_LAG_S]  # fmt: skip
        if not settled:
            raise NothingYet
        _expect(await self.http.get(f"/api/v1/training/jobs/{random.choice(settled)}"), 200)

    async def sse_follow(self) -> None:
        if not self.jobs:
            raise NothingYet
        job_id, ids, last = self.jobs[-1], [], ""
        async with self.http.stream("GET", f"/api/v1/training/jobs/{job_id}/logs") as answer:
            _expect(answer, 200)
            async for line in answer.aiter_lines():
                if line.startswith("id: "):
                    ids.append(int(line[4:]))
                elif line.startswith("event: "):
                    last = line[7:]
        if ids != list(range(1, len(ids) + 1)) or last not in TERMINAL_FRAMES:
            self.sse_problems.append(f"{job_id}: ids {ids}, last {last!r}")

    async def inference(self) -> None:
        _expect(await self.http.post("/api/v1/inference/generate", json=GENERATE), 200)


class NothingYet(Exception):
    """No job to read or follow yet: counted as skipped, not as a (0 ms) success."""


class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _expect(answer: httpx.Response, status: int) -> None:
    if answer.status_code != status:
        raise Refused(answer.status_code)


async def _timed(op: Operation, call: Callable[[], Awaitable[None]]) -> None:
    op.in_flight += 1
    began = time.monotonic()
    try:
        await call()
        op.latencies_s.append(time.monotonic() - began)
    except NothingYet:
        op.skipped += 1
    except Refused as exc:
        op.errors[str(exc.status)] += 1
    except httpx.HTTPError as exc:
        op.errors[type(exc).__name__] += 1
    finally:
        op.in_flight -= 1


async def _at_fixed_rate(
    load: Load, name: str, until: float, tasks: set[asyncio.Task[None]]
) -> None:
    op, call, interval = load.ops[name], getattr(load, name), 1.0 / RATES_PER_S[name]
    moment = time.monotonic()
    while moment < until:
        if op.in_flight >= MAX_IN_FLIGHT:
            op.skipped += 1
        else:
            task = asyncio.create_task(_timed(op, call))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        moment += interval
        await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def run(base_url: str, api_key: str, duration_s: float, timeout_s: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=4 * MAX_IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": api_key},
                                 timeout=timeout_s, limits=limits) as http:  # fmt: skip
        load, tasks = Load(http), set[asyncio.Task[None]]()
        began = time.monotonic()
        await asyncio.gather(*(_at_fixed_rate(load, n, began + duration_s, tasks)
                               for n in RATES_PER_S))  # fmt: skip
        await asyncio.gather(*tasks)  # the requests still in flight finish (bounded: timeout_s)
        elapsed = time.monotonic() - began
    return {"duration_s": round(elapsed, 1), "rates_per_s": RATES_PER_S,
            "operations": {n: op.report(elapsed) for n, op in load.ops.items()},
            "jobs": load.jobs, "sse_problems": load.sse_problems}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    api_key = os.environ["QLLM_LOAD_API_KEY"]  # not an argument: argv is visible to every user
    report = asyncio.run(run(args.base_url, api_key, args.duration_s, args.timeout_s))
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
