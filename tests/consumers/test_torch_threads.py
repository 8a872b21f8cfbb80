"""A worker process sets torch's intra-op threads from ``QLLM_WORKER_TORCH_THREADS`` (default 1);
0 leaves torch's own default. Checked in fresh interpreters: the setting is process-wide."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = (
    "import torch; before = torch.get_num_threads();"
    "from consumers.config import WorkerSettings; from consumers.runtime import use_torch_threads;"
    "use_torch_threads(WorkerSettings()); print(before, torch.get_num_threads())"
)


def _threads(setting: str | None) -> tuple[int, int]:
    env = {k: v for k, v in os.environ.items() if k != "QLLM_WORKER_TORCH_THREADS"}
    if setting is not None:
        env["QLLM_WORKER_TORCH_THREADS"] = setting
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split()
    return int(before), int(after)


@pytest.mark.parametrize(("setting", "expected"), [(None, 1), ("3", 3), ("0", None)])
def test_the_workers_intra_op_threads_follow_the_setting(
    setting: str | None, expected: int | None
) -> None:
    before, after = _threads(setting)
    assert after == (before if expected is None else expected)  # None: torch's default kept
