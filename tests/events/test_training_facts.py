"""What the job stream says about steps, checkpoints, evaluations, recoveries and submissions,
and what QRAF states created from data carry."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schemas import jobs, states
from schemas.codec import default_codec
from schemas.errors import IllegalTransition
from schemas.jobs import JobState
from schemas.jobs import JobStatus as S
from schemas.records import Command, Event, Record, command
from schemas.states import QraftState


def _running(step: int = 0) -> JobState:
    return JobState(job_id="job-1", version=5, status=S.RUNNING, worker_id="w1", step=step)


def _fold(state: JobState, cmd: Command) -> tuple[JobState, list[Event]]:
    events = jobs.decide(state, cmd)
    for event in events:
        state = jobs.evolve(state, event)
    return state, events


def _step(step: int, loss: float = 1.0) -> Command:
    report = {"lr": 1e-3, "tokens_per_s": 900.0, "grad_norm": 0.7, "mean_iterations": 2.5,
              "mean_entropy": 1.25}  # fmt: skip
    return command(jobs.RecordTrainingStep, "job-1", "w1", step=step, loss=loss, **report)


def test_step_event_carries_the_full_report_of_the_step() -> None:
    _, [event] = _fold(_running(), _step(1))
    assert isinstance(event, jobs.TrainingStepCompleted)
    reported = (event.lr, event.tokens_per_s, event.grad_norm, event.mean_iterations,
                event.mean_entropy, event.redone)  # fmt: skip
    assert reported == (1e-3, 900.0, 0.7, 2.5, 1.25, False)


def test_step_at_or_below_the_recorded_high_water_mark_is_marked_redone() -> None:
    state, [redo] = _fold(_running(step=6), _step(4, loss=9.0))
    assert isinstance(redo, jobs.TrainingStepCompleted) and redo.redone
    assert (state.step, state.loss) == (6, None)  # the fold does not move backwards


def test_first_step_beyond_the_high_water_mark_is_a_new_fact_again() -> None:
    state, [event] = _fold(_running(step=6), _step(7, loss=0.5))
    assert isinstance(event, jobs.TrainingStepCompleted) and not event.redone
    assert (state.step, state.loss) == (7, 0.5)


def test_recovery_names_the_checkpoint_resumed_from_and_the_steps_to_redo() -> None:
    lost = command(jobs.ReportWorkerLost, "job-1", "w2", worker_id="w1", resume_step=4)
    state, [event] = _fold(_running(step=6), lost)
    assert isinstance(event, jobs.JobRecovering) and event.resume_step == 4
    assert "steps 5..6 are redone" in event.reason and state.status == S.RECOVERING


def test_checkpoint_saved_is_folded_as_the_jobs_latest_checkpoint() -> None:
    cmd = command(jobs.RecordCheckpoint, "job-1", "w1", step=4, checkpoint_uri="mem://c/step-4",
                  forced=True)  # fmt: skip
    state, [event] = _fold(_running(step=4), cmd)
    assert isinstance(event, jobs.CheckpointSaved) and event.forced
    assert (state.checkpoint_uri, state.checkpoint_step) == ("mem://c/step-4", 4)


def test_evaluation_is_folded_into_the_job_state() -> None:
    cmd = command(jobs.RecordEvaluation, "job-1", "w1", step=8, checkpoint_uri="file:///c",
                  metrics={"perplexity": 12.5, "bits_per_token": 3.6})  # fmt: skip
    state, [event] = _fold(_running(step=8), cmd)
    assert isinstance(event, jobs.EvaluationCompleted) and event.step == 8
    assert state.evaluation == {"perplexity": 12.5, "bits_per_token": 3.6}


def test_force_checkpoint_is_refused_unless_the_job_runs() -> None:
    paused = JobState(job_id="job-1", version=5, status=S.PAUSED)
    with pytest.raises(IllegalTransition):
        jobs.decide(paused, command(jobs.ForceCheckpoint, "job-1", "ann"))


def test_submission_keeps_training_type_dataset_hyperparameters_and_callback() -> None:
    cmd = command(jobs.StartTraining, "job-1", "ann", owner="ann", model_id="m1", preset="tiny",
                  max_steps=5, training_type="contrastive", dataset_id="ds-9",
                  hyperparameters={"lr": 3e-4}, callback_url="https://cb.example/x")  # fmt: skip
    state, [event] = _fold(JobState(), cmd)
    assert isinstance(event, jobs.JobSubmitted)
    kept = (state.training_type, state.dataset_id, state.hyperparameters, state.callback_url)
    assert kept == ("contrastive", "ds-9", {"lr": 3e-4}, "https://cb.example/x")


@pytest.mark.parametrize(
    ("cls", "version", "defaults"),
    [
        (
            jobs.StartTraining,
            1,
            {
                "training_type": "standard",
                "dataset_id": "default",
                "hyperparameters": {},
                "callback_url": None,
            },
        ),
        (jobs.TrainingStepCompleted, 2, {"lr": None, "grad_norm": None, "redone": False}),
        (jobs.JobRecovering, 1, {"resume_step": None}),
        (states.CreateState, 1, {"real": [], "imag": []}),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_record_written_with_its_previous_version_decodes_with_the_new_defaults(
    cls: type[Record], version: int, defaults: dict[str, object],
    make_sample: Callable[..., Record],
) -> None:  # fmt: skip
    old = default_codec().encode_as(make_sample(cls), version=version)
    decoded = default_codec().decode(old)
    assert {name: getattr(decoded, name) for name in defaults} == defaults


def _create(**payload: object) -> Command:
    return command(states.CreateState, "s1", "ann", owner="ann", **payload)


def test_state_created_from_data_carries_its_amplitudes() -> None:
    [event] = states.decide(QraftState(), _create(dimension=2, real=[0.6, 0.0], imag=[0.0, 0.8]))
    assert isinstance(event, states.StateCreated)
    assert (event.real, event.imag) == ([0.6, 0.0], [0.0, 0.8])
    assert states.evolve(QraftState(), event).from_data


@pytest.mark.parametrize(
    "payload",
    [{"dimension": 3, "real": [1.0, 0.0]}, {"dimension": 2, "real": [1.0, 0.0], "imag": [1.0]},
     {"dimension": 2, "imag": [1.0, 0.0]}, {"dimension": 0}],
    ids=["short-real", "short-imag", "imag-without-real", "empty"],
)  # fmt: skip
def test_state_data_that_does_not_match_its_dimension_is_refused(
    payload: dict[str, object],
) -> None:
    with pytest.raises(IllegalTransition):
        states.decide(QraftState(), _create(**payload))
