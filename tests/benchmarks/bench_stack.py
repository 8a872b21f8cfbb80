"""Stack start-up and memory: cold (nothing cached), warm (jars cached, fresh data), restart.

    python -m tests.benchmarks.bench_stack [--warm-runs 3] [--skip-cold]

Each run is a real ``python -m compose.stack up`` on a private folder and free ports, timed from
the command's start to its return (all three servers answering a real request), followed by the
resident memory of each server and a ``down --wipe``. The cold run also empties Maven's local
repository (a private ``user.home``), so it measures the download from Maven Central.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compose.settings import Settings
from compose.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(stack_dir: Path, home: Path | None, maven_home: Path | None) -> dict[str, str]:
    env = {**os.environ, "QLLM_STACK_DIR": str(stack_dir)}
    for name in ("KAFKA", "KAFKA_CONTROLLER", "CASSANDRA_CQL", "CASSANDRA_STORAGE", "REDIS"):
        env[f"QLLM_PORTS__{name}"] = str(_free_port())
    if home is not None:
        env["QLLM_HOME"] = str(home)
    if maven_home is not None:
        env["MAVEN_OPTS"] = f"-Duser.home={maven_home}"
    return env


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stack(env: dict[str, str]) -> Stack:
    old = dict(os.environ)
    os.environ.update(env)
    try:
        return Stack(Settings(), echo=lambda _: None)
    finally:
        os.environ.clear()
        os.environ.update(old)


def _cli(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "compose.stack", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def run_once(label: str, home: Path | None, maven_home: Path | None, restart: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp) / "stack", home, maven_home)
        first = _cli(env, "up")
        again = None
        if restart:  # stop, keep the data, start again: the everyday "warm up"
            _cli(env, "down")
            again = _cli(env, "up")
        rss = {n: _rss_mb(r.pid) for n, r in _stack(env).records().items()}
        _cli(env, "down", "--wipe")
    print(
        f"{label:<28} up {first:6.1f}s"
        + (f"  restart {again:5.1f}s" if again else "")
        + "  RSS "
        + "  ".join(f"{n} {mb:,.0f} MB" for n, mb in rss.items()),
        flush=True,
    )
    return {"up": first, "restart": again, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as cold:
            run_once("cold (no jars, empty ~/.m2)", Path(cold) / "home", Path(cold), False)
    warm = [run_once(f"warm #{i + 1} (jars cached)", None, None, True)
            for i in range(args.warm_runs)]  # fmt: skip
    ups = [w["up"] for w in warm]
    restarts = [w["restart"] for w in warm]
    print(
        f"\nwarm up, fresh data: median {statistics.median(ups):.1f}s (min {min(ups):.1f}, "
        f"max {max(ups):.1f})"
    )
    print(f"warm up, existing data (restart): median {statistics.median(restarts):.1f}s")
    print(f"target: warm up to all-ready <= 60 s -> ratio {statistics.median(ups) / 60:.2f}")


if __name__ == "__main__":
    main()
