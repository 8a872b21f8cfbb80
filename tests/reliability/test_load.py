"""A bounded load over REST: job submissions, status reads, SSE followers and inference at fixed
rates, then every submitted job accounted for.

The service runs as subprocesses (the API under uvicorn, a training worker, an inference worker,
the stream processor); the load runs in a process of its own (``tests/reliability/loadgen.py``)
for ``QLLM_SOAK_S`` seconds (default 120: the CI variant; set it higher for a soak) and reports
throughput, p50/p99 and errors per operation. Afterwards each job answered ``202`` must reach a
terminal state in the projection (read over REST) and be ``SUCCEEDED`` — none lost — and each SSE
follower must have seen a contiguous stream ending with the job's terminal event.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compose.settings import Settings
from producers.topics import provision
from tests.reliability.platform import running_platform, until_terminal
from tests.reliability.services import ROOT

pytestmark = [pytest.mark.reliability, pytest.mark.stack, pytest.mark.slow]
DURATION_S = float(os.environ.get("QLLM_SOAK_S", "120"))
DRAIN_S = 240.0  # bound on the jobs still queued at the end of the load


def run_load(base_url: str, api_key: str, out: Path) -> dict[str, object]:
    argv = [sys.executable, "-m", "tests.reliability.loadgen", "--base-url", base_url,
            "--duration-s", str(DURATION_S), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "QLLM_LOAD_API_KEY": api_key, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=DURATION_S + 180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(out.read_text()))


@pytest.mark.timeout(DURATION_S + DRAIN_S + 300)  # a soak outlasts the suite's 600 s default
async def test_fixed_rate_load_over_rest_reports_latencies_and_loses_no_submitted_job(
    scenario_settings: Settings, tmp_path: Path
) -> None:
    s = scenario_settings
    await provision(s)
    with running_platform(s, tmp_path, ("training", "inference")) as platform:
        report = await asyncio.to_thread(run_load, platform.base_url, platform.api_key,
                                         tmp_path / "load.json")  # fmt: skip
        jobs: list[str] = list(report["jobs"])  # type: ignore[call-overload]
        seen = await asyncio.to_thread(until_terminal, platform, jobs, DRAIN_S)
        tails = platform.tails()
    operations: dict[str, dict[str, object]] = report["operations"]  # type: ignore[assignment]
    for name, op in operations.items():
        print(f"RELIABILITY load {name}: " + " ".join(f"{k}={v}" for k, v in op.items()))
    statuses = [seen.get(j, {}).get("status") for j in jobs]
    errors = {n: op["errors"] for n, op in operations.items() if op["errors"]}
    print(
        f"RELIABILITY load: duration_s={report['duration_s']} submitted={len(jobs)} "
        f"succeeded={statuses.count('SUCCEEDED')} "
        f"terminal={sum(st in ('SUCCEEDED', 'FAILED', 'CANCELLED') for st in statuses)} "
        f"lost={statuses.count(None)} errors={errors} "
        f"sse_problems={len(report['sse_problems'])} "  # type: ignore[arg-type]
        f"job_errors_retried={sum(bool(seen.get(j, {}).get('retries_used')) for j in jobs)}"
    )
    assert jobs, "no job was accepted"
    assert statuses.count(None) == 0  # every 202 is in the projection
    assert statuses == ["SUCCEEDED"] * len(jobs), (statuses, tails)
    assert report["sse_problems"] == [], report["sse_problems"]
    assert errors == {}, (errors, tails)
    assert all(op["ok"] for op in operations.values())  # every operation ran
