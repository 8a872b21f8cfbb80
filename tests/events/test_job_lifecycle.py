"""Every legal and illegal transition of the job lifecycle, as a table."""

from __future__ import annotations

from itertools import product

import pytest

from schemas import jobs
from schemas.errors import IllegalTransition, UnknownEvent
from schemas.jobs import JobState
from schemas.jobs import JobStatus as S
from schemas.records import Command, command

PAYLOADS: dict[type[Command], dict[str, object]] = {
    jobs.StartTraining: {"owner": "ann", "model_id": "m1", "preset": "tiny", "max_steps": 5},
    jobs.CancelJob: {"reason": "user"},
    jobs.PauseJob: {},
    jobs.ResumeJob: {},
    jobs.ForceCheckpoint: {"reason": "user"},
    jobs.RecordCheckpoint: {"step": 2, "checkpoint_uri": "file:///ckpt/step-2"},
    jobs.RecordEvaluation: {"step": 3, "checkpoint_uri": "file:///ckpt", "metrics": {"ppl": 9.0}},
    jobs.ClaimJob: {"worker_id": "w1"},
    jobs.MarkJobRunning: {"worker_id": "w1"},
    jobs.RecordTrainingStep: {"step": 3, "loss": 1.5},
    jobs.ReportJobError: {"reason": "nan loss"},
    jobs.ReportWorkerLost: {"worker_id": "w1"},
    jobs.CompleteJob: {"checkpoint_uri": "file:///ckpt"},
    jobs.ConfirmCancelled: {},
}
ACTIVE = (S.STARTING, S.RUNNING, S.RECOVERING)

# (state, command) -> (event type, status after) — the specification; every other pair is illegal
LEGAL: dict[tuple[S, type[Command]], tuple[type[jobs.Event], S]] = {
    (S.ABSENT, jobs.StartTraining): (jobs.JobSubmitted, S.PENDING),
    (S.PENDING, jobs.ClaimJob): (jobs.JobStarting, S.STARTING),
    (S.PENDING, jobs.CancelJob): (jobs.JobCancelled, S.CANCELLED),
    (S.STARTING, jobs.MarkJobRunning): (jobs.JobRunning, S.RUNNING),
    (S.RECOVERING, jobs.MarkJobRunning): (jobs.JobRunning, S.RUNNING),
    (S.RUNNING, jobs.RecordTrainingStep): (jobs.TrainingStepCompleted, S.RUNNING),
    (S.RUNNING, jobs.CompleteJob): (jobs.JobSucceeded, S.SUCCEEDED),
    (S.RUNNING, jobs.PauseJob): (jobs.JobPaused, S.PAUSED),
    (S.PAUSED, jobs.ResumeJob): (jobs.JobResumed, S.PENDING),
    (S.PAUSED, jobs.CancelJob): (jobs.JobCancelled, S.CANCELLED),
    (S.CANCELLING, jobs.ConfirmCancelled): (jobs.JobCancelled, S.CANCELLED),
    (S.CANCELLING, jobs.ReportWorkerLost): (jobs.JobCancelled, S.CANCELLED),
    (S.RUNNING, jobs.RecordEvaluation): (jobs.EvaluationCompleted, S.RUNNING),
    (S.RUNNING, jobs.RecordCheckpoint): (jobs.CheckpointSaved, S.RUNNING),
    (S.CANCELLING, jobs.RecordCheckpoint): (jobs.CheckpointSaved, S.CANCELLING),
    **{(s, jobs.ReportJobError): (jobs.JobRetrying, S.RECOVERING) for s in ACTIVE},
    **{(s, jobs.ReportWorkerLost): (jobs.JobRecovering, S.RECOVERING) for s in ACTIVE},
    **{(s, jobs.CancelJob): (jobs.JobCancelRequested, S.CANCELLING) for s in ACTIVE},
}
# accepted, but deciding no event (the worker acts on it and records what it did)
NO_EVENT = {(S.RUNNING, jobs.ForceCheckpoint)}
ILLEGAL = [pair for pair in product(S, PAYLOADS) if pair not in LEGAL and pair not in NO_EVENT]


def _state(status: S, retries_used: int = 0) -> JobState:
    return JobState(
        job_id="job-1", version=4, status=status, owner="ann", retry_budget=2,
        retries_used=retries_used, worker_id="w1",
    )  # fmt: skip


def _cmd(cls: type[Command]) -> Command:
    return command(cls, "job-1", "ann", **PAYLOADS[cls])


@pytest.mark.parametrize(("status", "cls"), list(LEGAL), ids=lambda v: getattr(v, "__name__", v))
def test_legal_transition_decides_one_event_that_evolves_to_the_next_status(
    status: S, cls: type[Command]
) -> None:
    state, cmd = _state(status), _cmd(cls)
    events = jobs.decide(state, cmd)
    expected_event, expected_status = LEGAL[(status, cls)]
    assert [type(e) for e in events] == [expected_event]
    assert events[0].seq == state.version + 1 and events[0].causation_id == cmd.event_id
    after = jobs.evolve(state, events[0])
    assert after.status == expected_status and after.version == state.version + 1


@pytest.mark.parametrize(("status", "cls"), ILLEGAL, ids=lambda v: getattr(v, "__name__", v))
def test_illegal_transition_is_rejected(status: S, cls: type[Command]) -> None:
    with pytest.raises(IllegalTransition) as raised:
        jobs.decide(_state(status), _cmd(cls))
    assert raised.value.state.status == status


def test_every_state_and_command_pair_is_specified() -> None:
    assert len(LEGAL) + len(NO_EVENT) + len(ILLEGAL) == len(S) * len(PAYLOADS)


def test_force_checkpoint_of_a_running_job_is_accepted_and_decides_no_event() -> None:
    assert jobs.decide(_state(S.RUNNING), _cmd(jobs.ForceCheckpoint)) == []


@pytest.mark.parametrize("status", ACTIVE)
def test_job_error_with_spent_retry_budget_fails_the_job(status: S) -> None:
    [event] = jobs.decide(_state(status, retries_used=2), _cmd(jobs.ReportJobError))
    assert isinstance(event, jobs.JobFailed) and event.reason == "nan loss"
    assert jobs.evolve(_state(status, retries_used=2), event).status == S.FAILED


def test_job_error_spends_the_retry_budget_and_lost_worker_does_not() -> None:
    state = _state(S.RUNNING)
    [retry] = jobs.decide(state, _cmd(jobs.ReportJobError))
    assert jobs.evolve(state, retry).retries_used == 1
    [recover] = jobs.decide(state, _cmd(jobs.ReportWorkerLost))
    assert jobs.evolve(state, recover).retries_used == 0


def test_redelivered_command_decides_identical_events() -> None:
    cmd = _cmd(jobs.StartTraining)
    assert jobs.decide(JobState(), cmd) == jobs.decide(JobState(), cmd)


def test_the_submitted_extensions_are_part_of_the_jobs_state() -> None:
    extensions = {"memory": "True", "memory_slots": "64"}
    cmd = command(jobs.StartTraining, "job-1", "ann", **PAYLOADS[jobs.StartTraining],
                  extensions=extensions)  # fmt: skip
    [submitted] = jobs.decide(JobState(), cmd)
    assert isinstance(submitted, jobs.JobSubmitted) and submitted.extensions == extensions
    assert jobs.evolve(JobState(), submitted).extensions == extensions
    assert jobs.evolve(JobState(), jobs.decide(JobState(), _cmd(jobs.StartTraining))[0]
                       ).extensions == {}  # fmt: skip


def test_full_happy_path_folds_to_succeeded() -> None:
    state = JobState()
    for cls in (jobs.StartTraining, jobs.ClaimJob, jobs.MarkJobRunning, jobs.RecordTrainingStep,
                jobs.ReportWorkerLost, jobs.MarkJobRunning, jobs.CompleteJob):  # fmt: skip
        for event in jobs.decide(state, _cmd(cls)):
            state = jobs.evolve(state, event)
    assert (state.status, state.version, state.step) == (S.SUCCEEDED, 7, 3)
    assert state.checkpoint_uri == "file:///ckpt" and state.retries_used == 0


@pytest.mark.parametrize("status", [s for s in S if s != S.ABSENT])
def test_evolve_refuses_an_event_the_state_cannot_have_produced(status: S) -> None:
    [submitted] = jobs.decide(JobState(), _cmd(jobs.StartTraining))
    with pytest.raises(UnknownEvent):
        jobs.evolve(_state(status), submitted)
