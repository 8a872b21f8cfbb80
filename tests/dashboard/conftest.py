"""A headless Chromium for the dashboard (the live service is ``live`` in ``tests/conftest.py``).

The browser is Debian's ``chromium`` (``apt-get install -y chromium``) driven by Playwright's
Python package through ``executable_path`` (no browser download). Without either the test skips
on a laptop and fails under ``CI=true``, like every stack test.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.requirements import missing

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = os.environ.get("QLLM_CHROMIUM") or next(
        (p for p in map(shutil.which, CHROMIUM_NAMES) if p), None
    )
    if found is None:
        missing("no Chromium: `apt-get install -y chromium` (or set QLLM_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright package is missing: `pip install 'playwright>=1.40,<2'`")
    assert found is not None
    return found
