"""The platform's own processes as subprocesses of a scenario, and the private stack's servers.

``Service`` starts ``python -m streams worker``, ``python -m consumers <role>`` or the API
(``uvicorn --factory api.app:create_app``) pointed at a
scenario's settings (addresses, topic prefix, keyspace spelled out in the environment, so nothing
inherited can point it at another stack), in its own folder (Faust writes its data folder in the
working directory), output to a log file (never a pipe that could fill). ``kill`` is SIGKILL: no
shutdown hook, no last commit. ``stop_server`` stops one server of the private stack the way the
launcher does (SIGTERM, then SIGKILL); ``Stack.up`` restarts only what is missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from compose import processes
from compose.settings import Settings
from compose.stack import Stack

ROOT = Path(__file__).resolve().parents[2]

# The API's first admin and signing secret (test values, never a real deployment's), and a rate
# tier high enough that the load measures the service, not the limiter.
JWT_SECRET = "reliability-signing-key-" + "r" * 32
ADMIN, ADMIN_PASSWORD = "root", "reliability suite passphrase"
RATE_TIERS = '{"standard": {"limit": 1000000, "window_s": 60}}'

# The Faust consumer group's timeouts, read by Faust from the environment: a SIGKILLed member
# is evicted after the session timeout, so the restarted processor gets the partitions that fast.
FAUST_ENV = {"BROKER_SESSION_TIMEOUT": "6", "BROKER_HEARTBEAT_INTERVAL": "1"}


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLLM_")}
    env.update(
        PYTHONPATH=str(ROOT),
        QLLM_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        QLLM_CASSANDRA_CONTACT=settings.cassandra_contact,
        QLLM_REDIS_URL=settings.redis_url,
        QLLM_TOPIC_PREFIX=settings.topic_prefix,
        QLLM_CASSANDRA_KEYSPACE=settings.cassandra_keyspace,
        QLLM_HOME=str(settings.home),
    )
    env.update(extra)
    return env


class Service:
    """One platform process; ``start``/``kill``/``stop``; ``log`` keeps what it printed."""

    def __init__(self, argv: list[str], env: dict[str, str], folder: Path, name: str) -> None:
        self.argv, self.env, self.name = argv, env, name
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = self.folder / "output.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def stream_processor(cls, settings: Settings, folder: Path, name: str) -> Service:
        return cls([sys.executable, "-m", "streams", "worker"],
                   environment(settings, **FAUST_ENV), folder, name)  # fmt: skip

    @classmethod
    def api(cls, settings: Settings, folder: Path, name: str, port: int, **config: str) -> Service:
        """``uvicorn --factory api.app:create_app`` on ``port``; ``config`` as ``QLLM_API_*``."""
        extra = {f"QLLM_API_{k.upper()}": v for k, v in config.items()}
        env = environment(settings, QLLM_JWT_SECRET=JWT_SECRET, QLLM_DATA_ROOT=str(folder / "data"),
                          QLLM_API_ADMIN_USERNAME=ADMIN, QLLM_API_ADMIN_PASSWORD=ADMIN_PASSWORD,
                          QLLM_API_REDIS_PREFIX=f"{settings.topic_prefix}api:",
                          QLLM_API_RATE_TIERS=RATE_TIERS, QLLM_API_LOG_LEVEL="WARNING",
                          **extra)  # fmt: skip
        argv = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--no-access-log"]  # fmt: skip
        return cls(argv, env, folder, name)

    @classmethod
    def consumer(cls, role: str, settings: Settings, folder: Path, name: str,
                 **worker: str) -> Service:  # fmt: skip
        extra = {f"QLLM_WORKER_{k.upper()}": v for k, v in worker.items()}
        env = environment(settings, QLLM_WORKER_WORKER_ID=name, **extra)
        return cls([sys.executable, "-m", "consumers", role], env, folder, name)

    def start(self) -> Service:
        with self.log.open("ab") as out:  # the child keeps its own handle
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.folder, stdout=out,
                                         stderr=subprocess.STDOUT)  # fmt: skip
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def tail(self, lines: int = 40) -> str:
        return processes.log_tail(self.log, lines)


def stop_server(stack: Stack, name: str) -> int:
    """Stop one server of the private stack (never any other); its pid."""
    assert stack.settings.stack_dir.resolve() != Path(".qllm/stack").resolve()
    record = stack.records()[name]
    processes.stop(record.pid, stack.layout.owner, timeout_s=30)
    assert not processes.is_ours(record.pid, stack.layout.owner)
    return record.pid
