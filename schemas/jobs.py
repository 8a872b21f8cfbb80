"""The training-job lifecycle: commands, events, state, and the pure ``decide`` / ``evolve``.

``PENDING → STARTING → RUNNING ⇄ RECOVERING → SUCCEEDED | FAILED(reason) | CANCELLING → CANCELLED``
plus ``PAUSED`` (DESIGN.md, Job lifecycle).

Deliberate choices:
- A job error (``ReportJobError``) spends the retry budget: ``JobRetrying`` while budget is left,
  ``JobFailed`` when it is spent. A lost worker (``ReportWorkerLost``) always gives
  ``JobRecovering`` and spends nothing.
- Cancelling a job that no worker holds (``PENDING``, ``PAUSED``) cancels it at once; otherwise the
  job goes to ``CANCELLING`` until the worker confirms (or is lost).
- Resuming a paused job queues it again (``PENDING``): a worker claims it and restarts from the
  last checkpoint.
- A step redone after a recovery (its number at or below the highest step recorded) is decided
  as ``TrainingStepCompleted(redone=True)``: the stream says what was redone without stating the
  step again as a new fact, and the fold's ``step`` never moves backwards.
- ``ForceCheckpoint`` decides no event: it is accepted only while the job runs, and the
  ``CheckpointSaved`` the worker then records names it as its cause (``forced=True``).
- ``evolve`` refuses an event its source state does not allow (``UnknownEvent``): events are facts,
  so such an event is a bug upstream and is dead-lettered rather than folded into nonsense.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from schemas.errors import IllegalTransition, UnknownEvent
from schemas.records import Command, Event, stamp


class JobStatus(StrEnum):
    ABSENT = "ABSENT"
    PENDING = "PENDING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    RECOVERING = "RECOVERING"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


# --- commands (the first five arrive on qllm.commands.training; the rest come from workers) ---
@dataclass(frozen=True, kw_only=True, slots=True)
class StartTraining(Command):
    owner: str
    model_id: str
    preset: str
    max_steps: int
    retry_budget: int = 2
    # v2: what to train on and how (defaults: the standard objective on the default corpus)
    training_type: str = "standard"
    dataset_id: str = "default"
    hyperparameters: dict[str, float] = field(default_factory=dict)
    callback_url: str | None = None
    # v3: the model's extensions when the job was submitted, as ``model.ExtensionsConfig`` field
    # names to values written as strings ({"memory": "True", "memory_slots": "64"}); what the
    # training worker builds the model with (empty: every extension off)
    extensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelJob(Command):
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class PauseJob(Command):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ResumeJob(Command):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ForceCheckpoint(Command):
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimJob(Command):
    worker_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class MarkJobRunning(Command):
    worker_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordTrainingStep(Command):
    step: int
    loss: float
    # v2: the step's full report (see TrainingStepCompleted)
    lr: float | None = None
    tokens_per_s: float | None = None
    grad_norm: float | None = None
    mean_iterations: float | None = None
    mean_entropy: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordCheckpoint(Command):
    step: int
    checkpoint_uri: str
    forced: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordEvaluation(Command):
    step: int
    checkpoint_uri: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportJobError(Command):
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportWorkerLost(Command):
    worker_id: str
    resume_step: int | None = None  # v2: the checkpoint step the job resumes from


@dataclass(frozen=True, kw_only=True, slots=True)
class CompleteJob(Command):
    checkpoint_uri: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfirmCancelled(Command):
    pass


# --- events (qllm.events.jobs, key job id) ---
@dataclass(frozen=True, kw_only=True, slots=True)
class JobSubmitted(Event):
    owner: str
    model_id: str
    preset: str
    max_steps: int
    retry_budget: int
    training_type: str = "standard"  # v2 fields, as StartTraining's
    dataset_id: str = "default"
    hyperparameters: dict[str, float] = field(default_factory=dict)
    callback_url: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)  # v3, as StartTraining's


@dataclass(frozen=True, kw_only=True, slots=True)
class JobStarting(Event):
    worker_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRunning(Event):
    worker_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainingStepCompleted(Event):
    step: int
    loss: float
    tokens_per_s: float | None = None  # added in v2; v1 events decode with None
    lr: float | None = None  # v3 fields; older events decode with None / False
    grad_norm: float | None = None
    mean_iterations: float | None = None  # resonance iterations, mean over layers
    mean_entropy: float | None = None  # resonance attention entropy, mean over layers
    redone: bool = False  # a step done again after a recovery (recorded before the crash)


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRecovering(Event):
    reason: str
    resume_step: int | None = None  # v2: checkpoint step resumed from; later steps are redone


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckpointSaved(Event):
    step: int
    checkpoint_uri: str
    forced: bool = False  # saved because of a ForceCheckpoint (its id is the causation_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class EvaluationCompleted(Event):
    step: int
    checkpoint_uri: str
    metrics: dict[str, float]


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRetrying(Event):
    reason: str
    attempt: int


@dataclass(frozen=True, kw_only=True, slots=True)
class JobPaused(Event):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class JobResumed(Event):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSucceeded(Event):
    checkpoint_uri: str


@dataclass(frozen=True, kw_only=True, slots=True)
class JobFailed(Event):
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class JobCancelRequested(Event):
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class JobCancelled(Event):
    pass


COMMANDS: tuple[type[Command], ...] = (
    StartTraining, CancelJob, PauseJob, ResumeJob, ForceCheckpoint, ClaimJob, MarkJobRunning,
    RecordTrainingStep, RecordCheckpoint, RecordEvaluation, ReportJobError, ReportWorkerLost,
    CompleteJob, ConfirmCancelled,
)  # fmt: skip
EVENTS: tuple[type[Event], ...] = (
    JobSubmitted, JobStarting, JobRunning, TrainingStepCompleted, JobRecovering, JobRetrying,
    JobPaused, JobResumed, JobSucceeded, JobFailed, JobCancelRequested, JobCancelled,
    CheckpointSaved, EvaluationCompleted,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JobState:
    """The fold of a job's events; ``version`` is the ``seq`` of the last event applied."""

    job_id: str = ""
    version: int = 0
    status: JobStatus = JobStatus.ABSENT
    owner: str = ""
    model_id: str = ""
    preset: str = ""
    max_steps: int = 0
    retry_budget: int = 0
    training_type: str = "standard"
    dataset_id: str = "default"
    hyperparameters: dict[str, float] = field(default_factory=dict)
    callback_url: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    retries_used: int = 0
    worker_id: str | None = None
    step: int = 0
    loss: float | None = None
    reason: str | None = None
    checkpoint_uri: str | None = None
    checkpoint_step: int = 0
    evaluation: dict[str, float] | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None


Decided = list[tuple[type[Event], dict[str, Any]]]
S = JobStatus
_ACTIVE = (S.STARTING, S.RUNNING, S.RECOVERING)


_SUBMITTED = (
    "owner", "model_id", "preset", "max_steps", "retry_budget", "training_type", "dataset_id",
    "callback_url",
)  # fmt: skip
_STEP_FIELDS = ("step", "loss", "lr", "tokens_per_s", "grad_norm", "mean_iterations",
                "mean_entropy")  # fmt: skip


def _submit(state: JobState, c: Any) -> Decided:
    payload = {name: getattr(c, name) for name in _SUBMITTED}
    copied = {"hyperparameters": dict(c.hyperparameters), "extensions": dict(c.extensions)}
    return [(JobSubmitted, {**payload, **copied})]


def _step(state: JobState, c: Any) -> Decided:
    payload = {name: getattr(c, name) for name in _STEP_FIELDS}
    return [(TrainingStepCompleted, {**payload, "redone": c.step <= state.step})]


def _checkpointed(state: JobState, c: Any) -> Decided:
    payload = {"step": c.step, "checkpoint_uri": c.checkpoint_uri, "forced": c.forced}
    return [(CheckpointSaved, payload)]


def _evaluated(state: JobState, c: Any) -> Decided:
    payload = {"step": c.step, "checkpoint_uri": c.checkpoint_uri, "metrics": dict(c.metrics)}
    return [(EvaluationCompleted, payload)]


def _lost(state: JobState, c: Any) -> Decided:
    reason = f"worker {c.worker_id} lost"
    if c.resume_step is not None:
        reason += f"; resuming from checkpoint at step {c.resume_step}"
        if state.step > c.resume_step:
            reason += f"; steps {c.resume_step + 1}..{state.step} are redone"
    return [(JobRecovering, {"reason": reason, "resume_step": c.resume_step})]


def _job_error(state: JobState, c: Any) -> Decided:
    if state.retries_used < state.retry_budget:
        return [(JobRetrying, {"reason": c.reason, "attempt": state.retries_used + 1})]
    return [(JobFailed, {"reason": c.reason})]


_RULES: dict[tuple[JobStatus, type[Command]], Callable[[JobState, Any], Decided]] = {
    (S.ABSENT, StartTraining): _submit,
    (S.PENDING, ClaimJob): lambda s, c: [(JobStarting, {"worker_id": c.worker_id})],
    (S.PENDING, CancelJob): lambda s, c: [(JobCancelled, {})],
    (S.STARTING, MarkJobRunning): lambda s, c: [(JobRunning, {"worker_id": c.worker_id})],
    (S.RECOVERING, MarkJobRunning): lambda s, c: [(JobRunning, {"worker_id": c.worker_id})],
    (S.RUNNING, RecordTrainingStep): _step,
    (S.RUNNING, ForceCheckpoint): lambda s, c: [],
    (S.RUNNING, RecordEvaluation): _evaluated,
    (S.RUNNING, RecordCheckpoint): _checkpointed,
    (S.CANCELLING, RecordCheckpoint): _checkpointed,
    (S.RUNNING, CompleteJob): lambda s, c: [(JobSucceeded, {"checkpoint_uri": c.checkpoint_uri})],
    (S.RUNNING, PauseJob): lambda s, c: [(JobPaused, {})],
    (S.PAUSED, ResumeJob): lambda s, c: [(JobResumed, {})],
    (S.PAUSED, CancelJob): lambda s, c: [(JobCancelled, {})],
    (S.CANCELLING, ConfirmCancelled): lambda s, c: [(JobCancelled, {})],
    (S.CANCELLING, ReportWorkerLost): lambda s, c: [(JobCancelled, {})],
    **{(status, ReportJobError): _job_error for status in _ACTIVE},
    **{(status, ReportWorkerLost): _lost for status in _ACTIVE},
    **{
        (status, CancelJob): lambda s, c: [(JobCancelRequested, {"reason": c.reason})]
        for status in _ACTIVE
    },
}


def decide(state: JobState, command: Command) -> list[Event]:
    """The events ``command`` causes in ``state``; ``IllegalTransition`` when it is not allowed."""
    rule = _RULES.get((state.status, type(command)))
    if rule is None:
        raise IllegalTransition(state, command)
    return stamp(command, state.version, rule(state, command))


_FROM: dict[type[Event], tuple[JobStatus, ...]] = {
    JobSubmitted: (S.ABSENT,),
    JobStarting: (S.PENDING,),
    JobRunning: (S.STARTING, S.RECOVERING),
    TrainingStepCompleted: (S.RUNNING,),
    JobRecovering: _ACTIVE,
    JobRetrying: _ACTIVE,
    JobPaused: (S.RUNNING,),
    JobResumed: (S.PAUSED,),
    JobSucceeded: (S.RUNNING,),
    JobFailed: _ACTIVE,
    JobCancelRequested: _ACTIVE,
    JobCancelled: (S.PENDING, S.PAUSED, S.CANCELLING),
    CheckpointSaved: (S.RUNNING, S.CANCELLING),
    EvaluationCompleted: (S.RUNNING,),
}


def _apply(state: JobState, e: Event) -> JobState:
    match e:
        case JobSubmitted():
            return replace(
                state, job_id=e.stream_id, status=S.PENDING, owner=e.owner, model_id=e.model_id,
                preset=e.preset, max_steps=e.max_steps, retry_budget=e.retry_budget,
                training_type=e.training_type, dataset_id=e.dataset_id,
                hyperparameters=dict(e.hyperparameters), callback_url=e.callback_url,
                extensions=dict(e.extensions), submitted_at=e.occurred_at,
            )  # fmt: skip
        case JobStarting() | JobRunning():
            status = S.STARTING if isinstance(e, JobStarting) else S.RUNNING
            return replace(state, status=status, worker_id=e.worker_id)
        case TrainingStepCompleted():
            if e.redone or e.step <= state.step:  # a redo: the high-water step stays
                return state
            return replace(state, step=e.step, loss=e.loss)
        case CheckpointSaved():
            return replace(state, checkpoint_uri=e.checkpoint_uri, checkpoint_step=e.step)
        case EvaluationCompleted():
            return replace(state, evaluation=dict(e.metrics))
        case JobRecovering():
            return replace(state, status=S.RECOVERING, worker_id=None, reason=e.reason)
        case JobRetrying():
            return replace(state, status=S.RECOVERING, retries_used=e.attempt, reason=e.reason)
        case JobPaused():
            return replace(state, status=S.PAUSED)
        case JobResumed():
            return replace(state, status=S.PENDING, worker_id=None)
        case JobSucceeded():
            return replace(state, status=S.SUCCEEDED, checkpoint_uri=e.checkpoint_uri)
        case JobFailed():
            return replace(state, status=S.FAILED, reason=e.reason)
        case JobCancelRequested():
            return replace(state, status=S.CANCELLING, reason=e.reason or None)
        case JobCancelled():
            return replace(state, status=S.CANCELLED)
    raise UnknownEvent(state, e)


def evolve(state: JobState, event: Event) -> JobState:
    """``state`` after ``event``; ``UnknownEvent`` for an event the state cannot have produced."""
    allowed = _FROM.get(type(event))
    if allowed is None or state.status not in allowed:
        raise UnknownEvent(state, event)
    return replace(_apply(state, event), version=event.seq, updated_at=event.occurred_at)
