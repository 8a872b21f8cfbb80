"""SIGKILL of a training worker mid-job: another member of the group finishes the job.

Workers run as real subprocesses (``python -m consumers training``) sharing a consumer group and
a checkpoint folder, as two machines would share a group and an object store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compose.settings import Settings
from schemas.jobs import StartTraining
from schemas.records import command
from tests.consumers.support import event_store, publish, read_stream, types_of, wait_for_stream

pytestmark = pytest.mark.stack
STEPS, EVERY = 30, 4


def spawn(stack: Settings, tmp_path: Path, worker_id: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QLLM_TOPIC_PREFIX": stack.topic_prefix,
        "QLLM_CASSANDRA_KEYSPACE": stack.cassandra_keyspace,
        "QLLM_WORKER_WORKER_ID": worker_id,
        "QLLM_WORKER_CHECKPOINT_URL": str(tmp_path / "checkpoints"),
        "QLLM_WORKER_CHECKPOINT_EVERY": str(EVERY),
        "QLLM_WORKER_SESSION_TIMEOUT_MS": "6000",
        "QLLM_WORKER_HEARTBEAT_INTERVAL_MS": "1000",
        "QLLM_WORKER_BATCH_SIZE": "4",
        "QLLM_WORKER_SEQ_LEN": "32",
        "QLLM_WORKER_CORPUS_DOCUMENTS": "12",
        "QLLM_WORKER_EVAL_TOKENS": "64",
    }
    with (tmp_path / f"{worker_id}.log").open("wb") as log:  # the child keeps its own handle
        return subprocess.Popen([sys.executable, "-m", "consumers", "training"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)  # reap it: an unwaited Popen warns at GC time, in a later test


async def test_sigkilled_worker_job_is_recovered_by_another_worker_with_a_contiguous_stream(
    stack: Settings, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    job = "job-crash"
    await publish(stack, command(StartTraining, job, "alice", owner="alice", model_id="m-crash",
                                 preset="tiny", max_steps=STEPS))  # fmt: skip
    processes.append(first := spawn(stack, tmp_path, "worker-a"))
    async with event_store(stack) as store:

        def past_checkpoint(events: list) -> bool:
            return any(e.type == "TrainingStepCompleted" and e.step >= EVERY + 2 for e in events)

        await wait_for_stream(store, job, past_checkpoint, 120)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        processes.append(spawn(stack, tmp_path, "worker-b"))
        events = await wait_for_stream(store, job, lambda es: "JobSucceeded" in types_of(es), 180)

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    done: list[Any] = [e for e in events if e.type == "TrainingStepCompleted"]
    assert [e.step for e in done if not e.redone] == list(range(1, STEPS + 1))  # once each
    recovering: list[Any] = [e for e in events if e.type == "JobRecovering"]
    assert len(recovering) == 1 and recovering[0].resume_step is not None
    assert "worker worker-a lost; resuming from checkpoint at step" in recovering[0].reason
    before = max(e.step for e in done if e.seq < recovering[0].seq)
    redone = [e.step for e in done if e.redone]  # what was done again, marked as such
    assert redone == list(range(recovering[0].resume_step + 1, before + 1))
    after = types_of(events)[types_of(events).index("JobRecovering") + 1]
    assert after == "JobRunning" and events[-1].checkpoint_uri.endswith(f"step-{STEPS:08d}")  # type: ignore[attr-defined]
    running = [e.worker_id for e in events if e.type == "JobRunning"]  # type: ignore[attr-defined]
    assert running == ["worker-a", "worker-b"]


async def test_sigterm_checkpoints_the_current_step_leaves_the_group_and_the_job_resumes_there(
    stack: Settings, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    job = "job-term"
    await publish(stack, command(StartTraining, job, "alice", owner="alice", model_id="m-term",
                                 preset="tiny", max_steps=STEPS))  # fmt: skip
    processes.append(first := spawn(stack, tmp_path, "worker-a"))
    async with event_store(stack) as store:
        await wait_for_stream(store, job, lambda es: "TrainingStepCompleted" in types_of(es), 120)
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0
        left = await read_stream(store, job)
        recorded = max(e.step for e in left if e.type == "TrainingStepCompleted")  # type: ignore[attr-defined]
        saved = sorted((tmp_path / "checkpoints" / "jobs" / job).glob("step-*"))
        assert saved[-1].name == f"step-{recorded:08d}"  # the step it stopped at was saved
        processes.append(spawn(stack, tmp_path, "worker-b"))
        events = await wait_for_stream(store, job, lambda es: "JobSucceeded" in types_of(es), 180)
    assert types_of(left)[-1] == "CheckpointSaved"  # left RUNNING for the next owner
    assert left[-1].step == recorded  # type: ignore[attr-defined]
    recovering = [e for e in events if e.type == "JobRecovering"]
    assert f"resuming from checkpoint at step {recorded}" in recovering[0].reason  # type: ignore[attr-defined]
    steps = [e.step for e in events if e.type == "TrainingStepCompleted"]  # type: ignore[attr-defined]
    assert steps == list(range(1, STEPS + 1))
