"""What a test needs from the machine: skipped on a laptop without it, a failure under CI.

``CI=true`` (how `.ci/run` runs the suite) turns every missing service, tool or package into a
failed test, so a CI run can never pass by skipping what it was meant to check.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def missing(message: str) -> NoReturn:
    """Skip with ``message``, or fail with it under ``CI=true``."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_stack_tools() -> None:
    """Java and redis-server, which a private stack (``compose.stack.Stack``) starts."""
    if shutil.which("java") is None or shutil.which("redis-server") is None:
        missing("java or redis-server missing; run `python -m compose.stack up` once")
