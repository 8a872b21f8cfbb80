"""``python -m consumers all``: one child per role, a crashed child restarted, SIGTERM for all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from compose.settings import Settings
from consumers.runtime import ROLES
from schemas.records import command
from schemas.states import CreateState
from tests.consumers.support import event_store, publish, types_of, wait_for_stream, wait_until

pytestmark = pytest.mark.stack


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found |= {int(p) for p in text.split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


@pytest.fixture
def supervisor(stack: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "QLLM_TOPIC_PREFIX": stack.topic_prefix,
        "QLLM_CASSANDRA_KEYSPACE": stack.cassandra_keyspace,
        "QLLM_WORKER_CHECKPOINT_URL": str(tmp_path / "checkpoints"),
        "QLLM_WORKER_STATE_DIR": str(tmp_path / "states"),
        "QLLM_WORKER_SESSION_TIMEOUT_MS": "6000",
        "QLLM_WORKER_HEARTBEAT_INTERVAL_MS": "1000",
    }
    with (tmp_path / "all.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "consumers", "all"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
    yield proc
    orphans = children(proc.pid)  # read before the parent dies: then they are re-parented
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    for child in orphans:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


async def test_all_runs_one_child_per_role_restarts_a_crashed_one_and_stops_all_on_sigterm(
    stack: Settings, supervisor: subprocess.Popen[bytes]
) -> None:
    await wait_until(lambda: len(children(supervisor.pid)) == len(ROLES), 60)
    first = children(supervisor.pid)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    await wait_until(lambda: len(children(supervisor.pid) - first) == 1, 60)  # a new one
    assert victim not in children(supervisor.pid)

    await publish(stack, command(CreateState, "via-all", "alice", owner="alice", dimension=4))
    async with event_store(stack) as store:  # the kernels child (whichever it is) does the work
        events = await wait_for_stream(store, "via-all", lambda es: "StateCreated" in types_of(es))
    assert types_of(events) == ["StateCreated"]

    running = children(supervisor.pid)
    supervisor.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(supervisor.wait, 90) == 0
    assert not any(alive(pid) for pid in running)


async def test_children_stop_when_the_supervisor_is_killed(
    stack: Settings, supervisor: subprocess.Popen[bytes]
) -> None:
    """SIGKILL forwards nothing: the children notice their parent is gone and stop themselves
    (seen before the fix: four orphaned workers beside the supervisor's replacement)."""
    await wait_until(lambda: len(children(supervisor.pid)) == len(ROLES), 60)
    running = children(supervisor.pid)
    supervisor.kill()
    supervisor.wait(10)
    await wait_until(lambda: not any(alive(pid) for pid in running), 60)
