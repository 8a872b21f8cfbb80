"""Runs the service's own processes in the foreground: the API and whatever else exists so far.

    python -m compose.serve

Expects the stack to be up (``python -m compose.stack up``). Every process gets the same
environment, so they share one settings object's view of the world. Ctrl-C or SIGTERM stops them
all.

A worker process (the stream processor, the consumer groups) that exits is started again after a
growing pause (``Restarts``): a worker exits on purpose when an outage outlasts its retries, and
what it had not committed is read again by its successor. If one keeps dying (more than
``Restarts.limit`` times in ``Restarts.window_s``), or the API dies, everything is stopped and the
exit code says so: a half-running service is worse than a stopped one.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from compose.settings import Settings


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    restart: bool = False  # started again when it exits (workers), or the end of the service


@dataclass
class Restarts:
    """When to start an exited worker again: pauses of 1, 2, 4 … ``max_pause_s`` seconds, and
    no more than ``limit`` restarts within ``window_s`` (then it is broken, not unlucky)."""

    limit: int = 5
    window_s: float = 300.0
    max_pause_s: float = 30.0
    times: list[float] = field(default_factory=list)

    def pause_after_exit(self, now: float) -> float | None:
        """The pause before the next start, or None when the budget is spent."""
        self.times = [t for t in self.times if now - t < self.window_s]
        if len(self.times) >= self.limit:
            return None
        self.times.append(now)
        return float(min(self.max_pause_s, 2 ** (len(self.times) - 1)))


def services(settings: Settings) -> list[Service]:
    """The service processes that exist in this checkout."""
    found = [
        Service("api", [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
                        "--host", settings.api_host, "--port", str(settings.api_port),
                        "--workers", str(settings.api_workers), "--log-level", "warning"]),
    ]  # fmt: skip
    if importlib.util.find_spec("streams.__main__") is not None:
        found.append(Service("streams", [sys.executable, "-m", "streams", "worker"], True))
    for module in ("consumers.__main__",):
        if importlib.util.find_spec(module) is not None:
            found.append(Service("workers", [sys.executable, "-m", "consumers", "all"], True))
    return found


SECRETS_FILE = Path(".qllm/secrets.env")


def ensure_local_secrets(path: Path = SECRETS_FILE) -> None:
    """Give a local run a JWT secret and a first-admin password unless the environment has them.

    Generated once, kept in a file only its owner can read (mode 600), and exported to the
    service processes; the values are never printed.
    """
    wanted = ("QLLM_JWT_SECRET", "QLLM_API_ADMIN_PASSWORD")
    if all(os.environ.get(name) for name in wanted):
        return
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"QLLM_JWT_SECRET={secrets.token_urlsafe(48)}\n")
            out.write(f"QLLM_API_ADMIN_PASSWORD={secrets.token_urlsafe(18)}\n")
        print(f"generated a JWT secret and the admin password in {path} (mode 600)", flush=True)
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name in wanted and not os.environ.get(name):
            os.environ[name] = value


def provision_topics(settings: Settings) -> None:
    """Create the design's topics before any process subscribes (idempotent)."""
    if importlib.util.find_spec("producers.topics") is None:
        return
    import asyncio

    from producers.topics import provision

    created = asyncio.run(provision(settings))
    print(f"topics: created {', '.join(created)}" if created else "topics: all exist", flush=True)


def _stop_all(running: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in running.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 30
    for proc in running.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    ensure_local_secrets()
    settings = Settings()
    running: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    provision_topics(settings)
    by_name = {service.name: service for service in services(settings)}
    restarts = {name: Restarts() for name in by_name}
    due: dict[str, float] = {}  # exited workers: when to start them again
    for service in by_name.values():
        running[service.name] = subprocess.Popen(service.argv)
        print(f"started {service.name} (pid {running[service.name].pid})", flush=True)
    url = f"http://{settings.api_host}:{settings.api_port}"
    print(f"\nQLLM is running at {url}", flush=True)
    print(f"  API docs: {url}/docs   readiness: {url}/api/v1/system/health/ready", flush=True)
    print(f"  log in as admin; the password is in {SECRETS_FILE}", flush=True)
    print("Ctrl-C stops it.", flush=True)
    code = 0
    while not stopping:
        now = time.monotonic()
        for name in [n for n, at in due.items() if at <= now]:
            del due[name]
            running[name] = subprocess.Popen(by_name[name].argv)
            print(f"restarted {name} (pid {running[name].pid})", flush=True)
        fatal = {}
        for name, proc in running.items():
            returncode = None if name in due else proc.poll()
            if returncode is None:
                continue
            pause = restarts[name].pause_after_exit(now) if by_name[name].restart else None
            if pause is None:
                fatal[name] = returncode
                continue
            print(f"warning: {name} exited {returncode}; starting it again in {pause:.0f} s",
                  flush=True)  # fmt: skip
            due[name] = now + pause
        if fatal:
            print(f"error: {', '.join(f'{n} exited {c}' for n, c in fatal.items())}; stopping")
            code = 1
            break
        time.sleep(0.5)
    _stop_all(running)
    return code


if __name__ == "__main__":
    sys.exit(main())
