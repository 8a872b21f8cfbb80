"""One live QLLM service shared by the SDK, CLI and dashboard tests of a session.

Reuses ``tests.api.live_stack``: the API on uvicorn in a thread, the stream processor, a training
worker (tiny corpus and batches, so a job of a few steps ends in seconds) and an inference worker
as subprocesses, all under a unique topic prefix and Cassandra keyspace. The session fixture
``live`` in ``tests/conftest.py`` starts it on first use and stops it at the end of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from compose.settings import Settings
from producers.topics import provision
from tests.api.conftest import ADMIN, ADMIN_PASSWORD
from tests.api.live_stack import live_settings, serving, spawn, stop

TINY_TRAINING = {
    "QLLM_WORKER_BATCH_SIZE": "4",
    "QLLM_WORKER_SEQ_LEN": "32",
    "QLLM_WORKER_CORPUS_DOCUMENTS": "12",
    "QLLM_WORKER_EVAL_TOKENS": "64",
    "QLLM_WORKER_CHECKPOINT_EVERY": "3",
}
WORKERS = (("streams", ["-m", "streams", "worker"]), ("training", ["-m", "consumers", "training"]),
           ("inference", ["-m", "consumers", "inference"]),
           ("models", ["-m", "consumers", "models"]))  # fmt: skip


@dataclass(frozen=True)
class Live:
    base_url: str
    settings: Settings
    folder: Path
    admin: tuple[str, str] = (ADMIN, ADMIN_PASSWORD)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-2000:]}" for p in self.folder.glob("*.log"))


@contextlib.contextmanager
def running_live(folder: Path, cluster: Any) -> Iterator[Live]:
    settings = live_settings()
    asyncio.run(provision(settings))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with mock.patch.dict(os.environ, TINY_TRAINING):
            procs = [spawn(argv, settings, folder, name) for name, argv in WORKERS]
        # no store handed in: the API opens its own auth tables in the run's keyspace
        with serving(settings, None) as base_url:  # type: ignore[arg-type]
            yield Live(base_url, settings, folder)
    finally:
        stop(*procs)
        session = cluster.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}", timeout=60)


ROOT_ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
