"""The live service (shared with the SDK and dashboard tests) and a private config folder, so the
CLI under test never reads or writes the real ``~/.config/qllm``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sdk.live import Live, shared_live


@pytest.fixture(scope="session")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap: str,
    redis_url: str,
    cassandra_cluster: Any,
) -> Iterator[Live]:
    with shared_live(tmp_path_factory.mktemp("live"), cassandra_cluster) as running:
        yield running


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("QLLM_CONFIG_DIR", str(folder))
    monkeypatch.delenv("QLLM_API_KEY", raising=False)
    monkeypatch.delenv("QLLM_URL", raising=False)
    return folder
