"""A private config folder, so the CLI under test never reads or writes the real
``~/.config/qllm`` (the live service is ``live`` in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("QLLM_CONFIG_DIR", str(folder))
    monkeypatch.delenv("QLLM_API_KEY", raising=False)
    monkeypatch.delenv("QLLM_URL", raising=False)
    return folder
