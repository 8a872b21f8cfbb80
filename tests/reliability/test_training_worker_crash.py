"""SIGKILL of a training worker mid-job under a steady stream of job submissions.

Two training workers (``python -m consumers training``, one consumer group, one checkpoint
folder) share the partitions while ``StartTraining`` commands arrive at a fixed rate. Once some
job is running past a checkpoint, the worker running it is SIGKILLed (no shutdown, no last
checkpoint, no commit) and a replacement is started while submissions go on. The surviving or the
replacement worker must finish every job: each job's stream contiguous from 1, ``JobSucceeded``
once, every step ``1..STEPS`` recorded exactly once as a new fact; the steps done again after the
recovery are marked ``redone`` (``TrainingStepCompleted`` v3) and are exactly those after the
checkpoint it resumed from (the single-job case: ``tests/consumers/test_crash_recovery.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from compose.settings import Settings
from producers.publisher import Publisher
from producers.topics import provision
from schemas.jobs import StartTraining
from schemas.records import Event, command
from streams.store.cassandra import CassandraEventStore
from tests.consumers.support import event_store, read_stream, types_of
from tests.reliability.platform import worker

pytestmark = [pytest.mark.reliability, pytest.mark.stack, pytest.mark.slow]
JOBS, STEPS, EVERY, INTERVAL_S = 8, 10, 3, 2.0


def step_problems(job_id: str, events: list[Any]) -> list[str]:
    """What breaks the job's guarantees (empty: contiguous, succeeded once, each step once)."""
    problems = []
    if [e.seq for e in events] != list(range(1, len(events) + 1)):
        problems.append(f"{job_id} not contiguous: {[e.seq for e in events]}")
    if types_of(events).count("JobSucceeded") != 1 or types_of(events)[-1] != "JobSucceeded":
        problems.append(f"{job_id} did not succeed once: {types_of(events)[-4:]}")
    done = [e for e in events if e.type == "TrainingStepCompleted"]
    if sorted(e.step for e in done if not e.redone) != list(range(1, STEPS + 1)):
        problems.append(f"{job_id} steps as new facts: {[e.step for e in done if not e.redone]}")
    for recovering in (e for e in events if e.type == "JobRecovering"):
        before = [e.step for e in done if e.seq < recovering.seq]
        redone = [e.step for e in done if e.redone and e.seq > recovering.seq]
        wanted = list(range((recovering.resume_step or 0) + 1, max(before, default=0) + 1))
        if redone[: len(wanted)] != wanted:
            problems.append(f"{job_id} redone {redone}, expected {wanted}")
    return problems


async def submit_steadily(s: Settings, job_ids: list[str], submitted: list[str]) -> None:
    async with Publisher(s) as publisher:
        for job_id in job_ids:
            await publisher.publish(command(StartTraining, job_id, "ann", owner="ann",
                                            model_id=f"m-{job_id}", preset="tiny",
                                            max_steps=STEPS))  # fmt: skip
            submitted.append(job_id)
            await asyncio.sleep(INTERVAL_S)


async def running_past_checkpoint(
    store: CassandraEventStore, job_ids: list[str]
) -> tuple[str, str] | None:
    """A job running past its first checkpoint, and the worker running it."""
    for job_id in job_ids:
        events: list[Any] = await read_stream(store, job_id)
        steps = [e.step for e in events if e.type == "TrainingStepCompleted"]
        if "JobSucceeded" not in types_of(events) and max(steps, default=0) >= EVERY + 1:
            return job_id, [e.worker_id for e in events if e.type == "JobRunning"][-1]
    return None


async def until_victim(
    store: CassandraEventStore, submitted: list[str], submitting: asyncio.Task[None],
    timeout_s: float,
) -> tuple[str, str]:  # fmt: skip
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (found := await running_past_checkpoint(store, submitted)) is None:
        if submitting.done() and submitting.exception() is not None:
            submitting.result()
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no job ran past step {EVERY + 1} in {timeout_s}s")
        await asyncio.sleep(0.3)
    return found


async def test_sigkilled_training_worker_under_steady_submissions_every_job_completes_once(
    scenario_settings: Settings, tmp_path: Path
) -> None:
    s = scenario_settings
    await provision(s)
    job_ids = [f"job-{uuid.uuid4().hex[:10]}" for _ in range(JOBS)]
    extra = {"checkpoint_every": str(EVERY)}
    workers = {n: worker("training", s, tmp_path, n, **extra) for n in ("worker-a", "worker-b")}
    replacement = worker("training", s, tmp_path, "worker-c", **extra)
    submitted: list[str] = []
    try:
        for service in workers.values():
            service.start()
        async with event_store(s) as store:
            submitting = asyncio.create_task(submit_steadily(s, job_ids, submitted))
            killed_job, killed_worker = await until_victim(store, submitted, submitting, 180)
            workers[killed_worker].kill()
            replacement.start()
            submitted_at_kill = len(submitted)
            await submitting
            streams = await until_all_terminal(store, job_ids, timeout_s=180)
    finally:
        for service in [*workers.values(), replacement]:
            service.stop()
    problems = [p for job_id in job_ids for p in step_problems(job_id, streams[job_id])]
    steps: list[Any] = [
        e for es in streams.values() for e in es if e.type == "TrainingStepCompleted"
    ]
    new_facts = Counter((e.stream_id, e.step) for e in steps if not e.redone)
    recovered = [j for j, es in streams.items() if "JobRecovering" in types_of(es)]
    print(
        f"RELIABILITY training-worker-sigkill: submitted={len(submitted)} "
        f"succeeded={sum(types_of(es)[-1] == 'JobSucceeded' for es in streams.values())} "
        f"steps_recorded={len(new_facts)} steps_expected={JOBS * STEPS} "
        f"duplicated={sum(n - 1 for n in new_facts.values())} "
        f"redone={sum(e.redone for e in steps)} recovered_jobs={len(recovered)} "
        f"submitted_at_kill={submitted_at_kill} killed={killed_worker} problems={len(problems)}"
    )
    assert problems == [], problems[:5]
    assert killed_job in recovered
    assert len(new_facts) == JOBS * STEPS and max(new_facts.values()) == 1
    assert submitted_at_kill < JOBS  # the kill happened under the stream of submissions


async def until_all_terminal(
    store: CassandraEventStore, job_ids: list[str], timeout_s: float
) -> dict[str, list[Event]]:
    terminal = {"JobSucceeded", "JobFailed", "JobCancelled"}
    streams: dict[str, list[Event]] = {}

    async def check() -> bool:
        for job_id in job_ids:
            if not streams.get(job_id) or streams[job_id][-1].type not in terminal:
                streams[job_id] = await read_stream(store, job_id)
        return all(es and es[-1].type in terminal for es in streams.values())

    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pending = {j: types_of(es)[-2:] for j, es in streams.items() if not es
                       or es[-1].type not in terminal}  # fmt: skip
            raise TimeoutError(f"jobs not terminal in {timeout_s}s: {pending}")
        await asyncio.sleep(0.5)
    return streams
