"""The training worker against the real stack: a job's life from command to terminal event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compose.settings import Settings
from consumers.config import WorkerSettings
from schemas.jobs import CancelJob, ForceCheckpoint, PauseJob, ResumeJob, StartTraining
from schemas.records import command
from tests.consumers.support import event_store, publish, running_worker, types_of, wait_for_stream

pytestmark = pytest.mark.stack


def start(job_id: str, steps: int) -> StartTraining:
    return command(StartTraining, job_id, "alice", owner="alice", model_id=f"m-{job_id}",
                   preset="tiny", max_steps=steps)  # fmt: skip


def is_contiguous(events: list) -> bool:
    return [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_tiny_job_succeeds_with_progress_checkpoint_and_evaluation(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    await publish(stack, start("job-ok", 4))
    async with running_worker("training", stack, worker_settings), event_store(stack) as store:
        events = await wait_for_stream(store, "job-ok", lambda es: "JobSucceeded" in types_of(es))
        model = await wait_for_stream(
            store, "m-job-ok", lambda es: "ModelCheckpointPublished" in types_of(es)
        )
    assert is_contiguous(events)
    assert types_of(events)[:3] == ["JobSubmitted", "JobStarting", "JobRunning"]
    assert types_of(events)[-3:] == ["CheckpointSaved", "EvaluationCompleted", "JobSucceeded"]
    steps: list[Any] = [e for e in events if e.type == "TrainingStepCompleted"]
    assert [e.step for e in steps] == [1, 2, 3, 4] and not any(e.redone for e in steps)
    assert all(e.tokens_per_s > 0 and e.lr > 0 and e.grad_norm >= 0 for e in steps)
    assert all(e.mean_iterations >= 1 and e.mean_entropy >= 0 for e in steps)
    saved: list[Any] = [e for e in events if e.type == "CheckpointSaved"]
    assert [e.step for e in saved] == [2, 4]  # checkpoint_every=2, then the final one
    evaluated: Any = events[-2]
    assert evaluated.metrics["perplexity"] > 1.0 and evaluated.step == 4
    checkpoint = Path(events[-1].checkpoint_uri)  # type: ignore[attr-defined]
    assert evaluated.checkpoint_uri == saved[-1].checkpoint_uri == str(checkpoint)
    assert checkpoint.name == "step-00000004" and (checkpoint / "model.safetensors").is_file()
    evaluation = json.loads((checkpoint / "evaluation.json").read_text())
    assert evaluation["perplexity"] > 1.0 and evaluation["tokens_scored"] > 0
    published = Path(worker_settings.models_root()) / "m-job-ok" / "model.safetensors"
    assert published.is_file()
    assert types_of(model) == ["ModelRegistered", "ModelTrainingStarted",
                               "ModelCheckpointPublished"]  # fmt: skip
    assert model[-1].step == 4 and model[-1].job_id == "job-ok"  # type: ignore[attr-defined]


async def test_pause_then_resume_continues_from_the_checkpoint_to_success(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    job = "job-pause"
    await publish(stack, start(job, 40))
    async with running_worker("training", stack, worker_settings), event_store(stack) as store:
        await wait_for_stream(store, job, lambda es: "TrainingStepCompleted" in types_of(es))
        await publish(stack, command(PauseJob, job, "alice"))
        paused = await wait_for_stream(store, job, lambda es: "JobPaused" in types_of(es))
        paused_at = max(e.step for e in paused if e.type == "TrainingStepCompleted")  # type: ignore[attr-defined]
        assert paused_at < 40
        await publish(stack, command(ResumeJob, job, "alice"))
        events = await wait_for_stream(store, job, lambda es: "JobSucceeded" in types_of(es), 120)
    assert is_contiguous(events)
    after = types_of(events)[len(paused) :]
    assert after[:4] == ["JobResumed", "JobStarting", "JobRunning", "TrainingStepCompleted"]
    steps = [e.step for e in events if e.type == "TrainingStepCompleted"]  # type: ignore[attr-defined]
    assert steps == list(range(1, 41))  # every step recorded once, none twice
    assert Path(worker_settings.checkpoint_url, "jobs", job).is_dir()


async def test_stop_cancels_a_running_job_within_a_step(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    job = "job-stop"
    await publish(stack, start(job, 200))
    async with running_worker("training", stack, worker_settings), event_store(stack) as store:
        await wait_for_stream(store, job, lambda es: "TrainingStepCompleted" in types_of(es))
        await publish(stack, command(CancelJob, job, "alice", reason="enough"))
        events = await wait_for_stream(store, job, lambda es: "JobCancelled" in types_of(es))
    assert is_contiguous(events)
    assert types_of(events)[-3:] == ["JobCancelRequested", "CheckpointSaved", "JobCancelled"]
    steps = [e.step for e in events if e.type == "TrainingStepCompleted"]  # type: ignore[attr-defined]
    assert steps[-1] < 200


async def test_errors_in_the_job_spend_the_retry_budget_then_fail_it(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    job = "job-bad"
    bad = command(StartTraining, job, "alice", owner="alice", model_id="m-bad",
                  preset="no-such-preset", max_steps=3, retry_budget=1)  # fmt: skip
    await publish(stack, bad)
    async with running_worker("training", stack, worker_settings), event_store(stack) as store:
        events = await wait_for_stream(store, job, lambda es: "JobFailed" in types_of(es))
    assert types_of(events) == [
        "JobSubmitted", "JobStarting", "JobRunning", "JobRetrying", "JobRunning", "JobFailed"
    ]  # fmt: skip
    assert "no-such-preset" in events[-1].reason  # type: ignore[attr-defined]


async def test_force_checkpoint_from_the_wire_saves_within_a_step_and_names_its_cause(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    job, worker = "job-force", worker_settings.model_copy(update={"checkpoint_every": 1000})
    await publish(stack, start(job, 300))
    async with running_worker("training", stack, worker), event_store(stack) as store:
        await wait_for_stream(store, job, lambda es: "TrainingStepCompleted" in types_of(es))
        force = command(ForceCheckpoint, job, "alice", reason="before a deploy")
        await publish(stack, force)
        events = await wait_for_stream(store, job, lambda es: "CheckpointSaved" in types_of(es))
        await publish(stack, command(CancelJob, job, "alice"))
        await wait_for_stream(store, job, lambda es: "JobCancelled" in types_of(es))
    saved: Any = next(e for e in events if e.type == "CheckpointSaved")
    assert saved.forced and saved.causation_id == force.event_id
    assert Path(saved.checkpoint_uri, "model.safetensors").is_file()
    before = [e.step for e in events[: events.index(saved)] if e.type == "TrainingStepCompleted"]  # type: ignore[attr-defined]
    assert saved.step <= before[-1] + 1 and saved.step < 300  # within one step of the command


async def test_job_with_hyperparameters_trains_with_them_and_an_unknown_dataset_fails_it(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    tuned = command(StartTraining, "job-lr", "alice", owner="alice", model_id="m-lr",
                    preset="tiny", max_steps=2, hyperparameters={"learning_rate": 0.02,
                                                                 "warmup_steps": 1.0})  # fmt: skip
    unknown = command(StartTraining, "job-ds", "alice", owner="alice", model_id="m-ds",
                      preset="tiny", max_steps=2, retry_budget=0, dataset_id="nope")  # fmt: skip
    await publish(stack, tuned, unknown)
    async with running_worker("training", stack, worker_settings), event_store(stack) as store:
        ok = await wait_for_stream(store, "job-lr", lambda es: "JobSucceeded" in types_of(es))
        bad = await wait_for_stream(store, "job-ds", lambda es: "JobFailed" in types_of(es))
        abandoned = await wait_for_stream(
            store, "m-ds", lambda es: "ModelTrainingAbandoned" in types_of(es)
        )
    lrs = [e.lr for e in ok if e.type == "TrainingStepCompleted"]  # type: ignore[attr-defined]
    assert max(lrs) == pytest.approx(0.02)
    assert "unknown dataset 'nope'" in bad[-1].reason  # type: ignore[attr-defined]
    assert abandoned[-1].job_id == "job-ds"  # type: ignore[attr-defined]


async def test_a_job_ends_without_waiting_out_the_progress_flush_pause(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    """Progress is appended in batches, waiting up to ``progress_flush_ms`` for more steps; once
    the training has returned, the last batch and the terminal event go out at once."""
    slow_flush = worker_settings.model_copy(update={"progress_flush_ms": 20_000.0})
    await publish(stack, start("job-flush", 4))
    async with running_worker("training", stack, slow_flush), event_store(stack) as store:
        events = await wait_for_stream(
            store, "job-flush", lambda es: "JobSucceeded" in types_of(es), timeout_s=15
        )
    assert [e.step for e in events if e.type == "TrainingStepCompleted"] == [1, 2, 3, 4]
    running = next(e for e in events if e.type == "JobRunning")
    took = (events[-1].occurred_at - running.occurred_at).total_seconds()
    assert events[-1].type == "JobSucceeded" and took < 10  # a 4-step job, not a 20 s pause
