"""The live service (shared with the SDK and CLI tests) and a headless Chromium for the dashboard.

The browser is Debian's ``chromium`` (``apt-get install -y chromium``) driven by Playwright's
Python package through ``executable_path`` (no browser download). Without either the test skips
on a laptop and fails under ``CI=true``, like every stack test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sdk.live import Live, shared_live

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="session")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap: str,
    redis_url: str,
    cassandra_cluster: Any,
) -> Iterator[Live]:
    with shared_live(tmp_path_factory.mktemp("live"), cassandra_cluster) as running:
        yield running


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = os.environ.get("QLLM_CHROMIUM") or next(
        (p for p in map(shutil.which, CHROMIUM_NAMES) if p), None
    )
    if found is None:
        _missing("no Chromium: `apt-get install -y chromium` (or set QLLM_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is missing: `pip install 'playwright>=1.40,<2'`")
    assert found is not None
    return found
