"""The whole service against a scenario's settings: the API, workers and the stream processor as
subprocesses, and what a REST client needs to talk to it (an admin token, an API key).

Deliberate choices: the API runs as its own process (``uvicorn --factory``), not in a thread of
the test, so what the clients measure is the real server and the test's own event loop cannot
slow it; workers train tiny jobs (small batches, short sequences, a small corpus) so a single
training worker keeps up with a steady stream of submissions on a busy two-core machine.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from compose.settings import Settings
from tests.reliability.services import ADMIN, ADMIN_PASSWORD, Service

# a tiny training worker: seconds per job on a busy CPU (tests/consumers' values)
TINY_TRAINING = {"batch_size": "4", "seq_len": "32", "corpus_documents": "12",
                 "eval_tokens": "64", "session_timeout_ms": "6000",
                 "heartbeat_interval_ms": "1000"}  # fmt: skip
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker(role: str, settings: Settings, folder: Path, name: str, **extra: str) -> Service:
    options = {"checkpoint_url": str(folder / "checkpoints"), "state_dir": str(folder / "states"),
               **(TINY_TRAINING if role == "training" else {}), **extra}  # fmt: skip
    return Service.consumer(role, settings, folder, name, **options)


@dataclass
class Platform:
    """Running services by name, the API's base URL and an API key of the ``trainer`` role
    (submits jobs, reads them, runs inference)."""

    base_url: str
    services: dict[str, Service] = field(default_factory=dict)
    api_key: str = ""

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def tails(self) -> str:
        return "\n".join(f"--- {n}\n{s.tail(15)}" for n, s in self.services.items())


def wait_ready(
    base_url: str, api: Service, timeout_s: float, path: str = "/api/v1/system/health"
) -> None:
    """Until the API answers ``path`` with 200 (``/api/v1/system/health/ready``: and its
    readiness probe sees Kafka, Cassandra and Redis); fails at once if the API exits."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base_url, timeout=10) as http:
        while True:
            if not api.alive:
                raise RuntimeError(f"the API exited:\n{api.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(path).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API did not answer {path} in {timeout_s}s:\n{api.tail()}")
            time.sleep(0.2)


def make_api_key(base_url: str, role: str = "trainer") -> str:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        credentials = {"username": ADMIN, "password": ADMIN_PASSWORD}
        login = http.post("/api/v1/auth/login", json=credentials)
        assert login.status_code == 200, login.text
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        body = {"name": "reliability", "role": role, "tier": "standard"}
        created = http.post("/api/v1/auth/keys", json=body, headers=admin)
        assert created.status_code == 201, created.text
        return str(created.json()["api_key"])


@contextlib.contextmanager
def running_platform(
    settings: Settings, folder: Path, roles: tuple[str, ...], **api_config: str
) -> Iterator[Platform]:
    """The stream processor, one worker per role and the API; all stopped at the end."""
    port = free_port()
    platform = Platform(f"http://127.0.0.1:{port}")
    platform.services["processor"] = Service.stream_processor(settings, folder, "processor")
    for role in roles:
        platform.services[role] = worker(role, settings, folder, f"{role}-a")
    api = platform.services["api"] = Service.api(settings, folder, "api", port, **api_config)
    try:
        for service in platform.services.values():
            service.start()
        wait_ready(platform.base_url, api, timeout_s=90)
        platform.api_key = make_api_key(platform.base_url)
        yield platform
    finally:
        for service in platform.services.values():
            service.stop()


def job_status(http: httpx.Client, platform: Platform, job_id: str) -> dict[str, Any] | None:
    answer = http.get(f"/api/v1/training/jobs/{job_id}", headers=platform.headers())
    return dict(answer.json()) if answer.status_code == 200 else None


def until_terminal(
    platform: Platform, job_ids: list[str], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """Poll the API until every job is terminal; each job's last answer (absent: never seen)."""
    deadline = time.monotonic() + timeout_s
    seen: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=platform.base_url, timeout=30) as http:
        while True:
            for job_id in [j for j in job_ids if seen.get(j, {}).get("status") not in TERMINAL]:
                if (found := job_status(http, platform, job_id)) is not None:
                    seen[job_id] = found
            pending = [j for j in job_ids if seen.get(j, {}).get("status") not in TERMINAL]
            if not pending or time.monotonic() > deadline:
                return seen
            time.sleep(0.5)
