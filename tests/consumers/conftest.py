"""Fixtures of the consumer tests: per-test settings on the real stack and folders.

Every test gets its own topic prefix, consumer groups, Cassandra keyspace and folders, so tests
never share state. Helpers (a running worker, reads of the event store) are in ``support``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compose.settings import Settings
from consumers.config import WorkerSettings


@pytest.fixture
def stack(kafka_bootstrap: str, cassandra_contact: str, unique: str) -> Settings:
    return Settings(topic_prefix=f"t{unique}.", cassandra_keyspace=f"consumers_{unique}")


@pytest.fixture
def worker_settings(tmp_path: Path, unique: str) -> WorkerSettings:
    return WorkerSettings(
        worker_id=f"w-{unique}",
        checkpoint_url=str(tmp_path / "checkpoints"),
        state_dir=str(tmp_path / "states"),
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        batch_size=4,
        seq_len=32,
        corpus_documents=12,
        eval_tokens=64,
        checkpoint_every=2,
    )
