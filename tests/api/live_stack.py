"""A live API for end-to-end tests: real workers as subprocesses and uvicorn on a free port.

One per test module (starting a worker and loading a model are the slow parts): its own topic
prefix and keyspace, an inference worker (``python -m consumers inference``) and, when asked, a
kernel worker and a stream processor, and the API served by uvicorn in a thread with its own
event loop, so clients in the test (httpx, the ``openai`` SDK) talk real HTTP to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

from api.app import create_app
from api.auth.store import AuthStore
from api.config import ApiConfig, RateTier
from compose.settings import Settings
from tests.api.conftest import ADMIN, ADMIN_PASSWORD, JWT_SECRET, PASSWORD

MODEL = "preset:tiny"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveApi:
    base_url: str
    settings: Settings
    admin: dict[str, str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=120)

    def headers_for(self, role: str) -> dict[str, str]:
        with self.client() as http:
            name = f"{role}-{uuid.uuid4().hex[:6]}"
            body = {"username": name, "password": PASSWORD, "role": role}
            assert http.post("/api/v1/auth/users", json=body, headers=self.admin).status_code == 201
            login = http.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
            return {"Authorization": f"Bearer {login.json()['access_token']}"}

    def api_key(self, role: str = "user") -> str:
        with self.client() as http:
            body = {"name": "live", "role": role, "tier": "standard"}
            created = http.post("/api/v1/auth/keys", json=body, headers=self.admin)
            assert created.status_code == 201, created.text
            return str(created.json()["api_key"])


def live_settings() -> Settings:
    unique = uuid.uuid4().hex[:10]
    return Settings(topic_prefix=f"tapi{unique}.", cassandra_keyspace=f"api_live_{unique}",
                    jwt_secret=SecretStr(JWT_SECRET))  # fmt: skip


def spawn(args: list[str], settings: Settings, folder: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QLLM_TOPIC_PREFIX": settings.topic_prefix,
        "QLLM_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "QLLM_WORKER_WORKER_ID": f"{name}-{uuid.uuid4().hex[:6]}",
        "QLLM_WORKER_CHECKPOINT_URL": str(folder / "checkpoints"),
        "QLLM_WORKER_STATE_DIR": str(folder / "states"),
        "QLLM_WORKER_SESSION_TIMEOUT_MS": "6000",
        "QLLM_WORKER_HEARTBEAT_INTERVAL_MS": "1000",
        "PYTHONPATH": str(ROOT),  # run from ``folder``, so nothing lands in the repository
    }
    with (folder / f"{name}.log").open("wb") as log:  # the child keeps its own handle
        return subprocess.Popen([sys.executable, *args], env=env, stdout=log, cwd=folder,
                                stderr=subprocess.STDOUT)  # fmt: skip


def stop(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM to all (they shut down side by side), then wait for each; SIGKILL after 30 s."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_config(unique: str) -> ApiConfig:
    return ApiConfig(
        admin_username=ADMIN, admin_password=SecretStr(ADMIN_PASSWORD),
        redis_prefix=f"qllm:test:{unique}:",
        rate_tiers={"standard": RateTier(limit=10_000, window_s=60)},
        inference_timeout_s=60.0,
    )  # fmt: skip


@contextlib.contextmanager
def serving(settings: Settings, store: AuthStore) -> Iterator[str]:
    """The API on a free port in a thread of its own; yields its base URL."""
    app = create_app(settings, api_config(uuid.uuid4().hex[:8]), auth_store=store)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))  # fmt: skip
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def admin_headers(base_url: str) -> dict[str, str]:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        login = http.post(
            "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        return {"Authorization": f"Bearer {login.json()['access_token']}"}
