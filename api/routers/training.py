"""Training jobs: submit, list, get, stop, pause, resume, force a checkpoint, follow, metrics.

Writes are commands on ``qllm.commands.training`` answered ``202`` after Kafka's acknowledgement
(``api.commands``); the training workers decide them. Reads come from the Redis projection (a job
as it is now) and the event store (its step history, its log). Roles: ``jobs:read`` reads any
job; ``jobs:write`` submits, and manages only the caller's own jobs unless the caller is an admin.

Deliberate choices:
- A command the job's current state cannot take (pause a job that is not running …) is a ``409``
  at once, from the projection; the worker's ``decide`` stays the authority for races.
- The log stream ends after the job's terminal event: a finished job's log is complete, and a
  client that reconnects with the last ``seq`` it saw gets the rest and the end.
- A job naming a model someone else owns is refused (403): training changes that model.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api import commands
from api.auth.ownership import ensure_can_manage
from api.auth.permissions import Permission
from api.auth.principal import Principal, require, resources_of
from api.datasets import DatasetStore
from api.errors import Conflict, NotFound
from api.history import events_of
from api.projection import MAX_OFFSET, ProjectionReader, path_read, state_for
from api.resources import Resources
from api.validation import check_hyperparameters, check_preset, field_error
from api.wire.training import (
    CheckpointPoint,
    EvaluationPoint,
    JobMetrics,
    JobOut,
    JobPage,
    NewJob,
    StepPoint,
)
from schemas import jobs
from schemas.codec import default_codec
from schemas.jobs import JobState, JobStatus
from schemas.models import ModelState, ModelStatus, training_extensions
from schemas.records import Command, Event, command
from streams.feed import Feed, parse_last_event_id
from streams.sse import MEDIA_TYPE, sse_frames

router = APIRouter(prefix="/api/v1/training", tags=["training"])
Reader = Annotated[Principal, Depends(require(Permission.JOBS_READ))]
# the job of the path is read with the rate-limit decision: a status poll is one Redis round trip
JobReader = Annotated[Principal, Depends(require(Permission.JOBS_READ, path_read("job_id")))]
Writer = Annotated[Principal, Depends(require(Permission.JOBS_WRITE))]
TERMINAL_EVENTS = (jobs.JobSucceeded, jobs.JobFailed, jobs.JobCancelled)
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "the command is in Kafka; poll the Location"}
}


def job_location(job_id: str) -> str:
    return f"/api/v1/training/jobs/{job_id}"


def reader(resources: Resources) -> ProjectionReader:
    return ProjectionReader(resources.redis, resources.projection_keys)


async def find_job(resources: Resources, job_id: str, request: Request | None = None) -> JobState:
    """The job as projected (with ``request``: from the row its ``JobReader`` read, if any)."""
    if request is not None:
        state = await state_for(request, job_id, "job")
    else:
        state = await reader(resources).get(job_id, "job")
    if state is None:
        raise NotFound("no such training job", details={"job_id": job_id})
    assert isinstance(state, JobState)
    return state


def job_out(state: JobState) -> JobOut:
    return JobOut.model_validate(state, from_attributes=True)  # no deep copy (asdict: ~40 µs)


async def _check_model(
    resources: Resources, principal: Principal, body: NewJob
) -> tuple[str, dict[str, str]]:
    """(the model id, the extensions the job trains it with: those the model has switched on)."""
    model_id = body.model_id or f"model-{uuid.uuid4().hex[:12]}"
    model = await reader(resources).get(model_id, "model") if body.model_id else None
    if not isinstance(model, ModelState):
        return model_id, {}  # a new model: the worker registers it, every extension off
    ensure_can_manage(principal, model.owner, Permission.MODELS_WRITE, f"model {model_id}")
    if model.status in (ModelStatus.RETIRED, ModelStatus.TRAINING):
        raise Conflict(
            f"model {model_id} is {model.status.value}",
            details={"model_id": model_id, "status": model.status.value},
        )
    return model_id, training_extensions(model)


def _check_dataset(resources: Resources, principal: Principal, body: NewJob) -> None:
    if body.dataset_id == "default":
        if body.training_type != "standard":
            raise field_error("training_type", "the default corpus trains 'standard' only")
        return
    dataset = DatasetStore(resources.config.data_root).get(body.dataset_id)
    if dataset is None:
        raise NotFound("no such dataset", details={"dataset_id": body.dataset_id})
    ensure_can_manage(
        principal, dataset.owner, Permission.DATASETS_WRITE, f"dataset {body.dataset_id}"
    )
    wanted = "text" if body.training_type == "standard" else body.training_type
    if dataset.kind != wanted:
        raise field_error(
            "training_type",
            f"dataset {dataset.dataset_id} holds "
            f"{dataset.kind!r} records; training type needs {wanted!r}",
        )


_SUBMISSIONS = uuid.UUID("5b0c3a5e-0d7e-4f47-9a43-7c1f3d0f9a10")


def submission_ids(subject: str, idempotency_key: str | None) -> tuple[str, str | None, str]:
    """(job id, default model id, command id) — fresh, or derived from an Idempotency-Key.

    With a key, a client that retries after a 503 or a lost response re-sends the SAME command
    (same job id and command id): if the first one reached Kafka after all, the worker recognises
    the redelivery and nothing runs twice (RELIABILITY.md, bug 6). Keys are scoped per caller.
    """
    if idempotency_key is None:
        return f"job-{uuid.uuid4().hex}", None, str(uuid.uuid4())
    seed = uuid.uuid5(_SUBMISSIONS, f"{subject}\n{idempotency_key}")
    return f"job-{seed.hex}", f"model-{seed.hex[:12]}", str(uuid.uuid5(seed, "StartTraining"))


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="retry-safe submission"),
]


@router.post("/jobs", status_code=202, responses=_ACCEPTED, summary="Submit a training job")
async def create_job(
    body: NewJob, request: Request, principal: Writer, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    resources = resources_of(request)
    job_id, default_model, command_id = submission_ids(principal.subject, idempotency_key)
    if idempotency_key is not None:
        known = await reader(resources).get(job_id, "job")
        if isinstance(known, JobState):  # a retry of a submission that already took effect
            return JSONResponse(
                {"id": job_id, "status": "accepted", "location": job_location(job_id),
                 "model_id": known.model_id, "replayed": True},
                status_code=202, headers={"Location": job_location(job_id)},
            )  # fmt: skip
    if body.model_id is None and default_model is not None:
        body = body.model_copy(update={"model_id": default_model})
    check_preset(body.preset)
    check_hyperparameters(body.hyperparameters)
    if body.callback_url is not None and resources.config.webhook_secret is None:
        raise field_error("callback_url", "webhooks are off here (no QLLM_API_WEBHOOK_SECRET)")
    _check_dataset(resources, principal, body)
    model_id, model_extensions = await _check_model(resources, principal, body)
    record = command(
        jobs.StartTraining,
        job_id,
        principal.subject,
        owner=principal.subject,
        model_id=model_id,
        preset=body.preset,
        max_steps=body.max_steps,
        retry_budget=body.retry_budget,
        training_type=body.training_type,
        dataset_id=body.dataset_id,
        hyperparameters=dict(body.hyperparameters),
        callback_url=str(body.callback_url) if body.callback_url else None,
        extensions=model_extensions,
    )
    record = dataclasses.replace(record, event_id=command_id)
    return await commands.accept(resources, record, job_location(job_id), {"model_id": model_id})


@router.get("/jobs", response_model=JobPage, summary="List training jobs, newest first")
async def list_jobs(
    request: Request,
    principal: Reader,
    owner: Annotated[str | None, Query(description="only this owner's jobs")] = None,
    status: Annotated[JobStatus | None, Query()] = None,
    model_id: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobPage:
    projection = reader(resources_of(request))
    states = await projection.many(await projection.ids("job", owner, offset, limit), "job")
    kept = [
        s
        for s in states
        if (status is None or s.status is status) and (model_id is None or s.model_id == model_id)
    ]
    return JobPage(items=[job_out(s) for s in kept], offset=offset, limit=limit)


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job as it is now")
async def get_job(job_id: str, request: Request, principal: JobReader) -> JobOut:
    return job_out(await find_job(resources_of(request), job_id, request))


async def _control(
    request: Request,
    principal: Principal,
    job_id: str,
    cls: type[Command],
    allowed: tuple[JobStatus, ...],
    **payload: Any,
) -> JSONResponse:
    resources = resources_of(request)
    state = await find_job(resources, job_id)
    ensure_can_manage(principal, state.owner, Permission.JOBS_WRITE, f"job {job_id}")
    if state.status not in allowed:
        raise Conflict(
            f"job {job_id} is {state.status.value}; {cls.__name__} needs one of "
            f"{[s.value for s in allowed]}",
            details={"job_id": job_id, "status": state.status.value},
        )
    record = command(cls, job_id, principal.subject, **payload)
    return await commands.accept(resources, record, job_location(job_id))


_S = JobStatus
_CANCELLABLE = (_S.PENDING, _S.STARTING, _S.RUNNING, _S.RECOVERING, _S.PAUSED)


@router.post("/jobs/{job_id}/stop", status_code=202, responses=_ACCEPTED, summary="Cancel a job")
async def stop_job(
    job_id: str,
    request: Request,
    principal: Writer,
    reason: Annotated[str, Query(max_length=500)] = "stopped through the API",
) -> JSONResponse:
    return await _control(request, principal, job_id, jobs.CancelJob, _CANCELLABLE, reason=reason)


@router.post("/jobs/{job_id}/pause", status_code=202, responses=_ACCEPTED, summary="Pause a job")
async def pause_job(job_id: str, request: Request, principal: Writer) -> JSONResponse:
    return await _control(request, principal, job_id, jobs.PauseJob, (_S.RUNNING,))


@router.post(
    "/jobs/{job_id}/resume",
    status_code=202,
    responses=_ACCEPTED,
    summary="Resume a paused job from its last checkpoint",
)
async def resume_job(job_id: str, request: Request, principal: Writer) -> JSONResponse:
    return await _control(request, principal, job_id, jobs.ResumeJob, (_S.PAUSED,))


@router.post(
    "/jobs/{job_id}/checkpoint",
    status_code=202,
    responses=_ACCEPTED,
    summary="Save a checkpoint now",
)
async def force_checkpoint(job_id: str, request: Request, principal: Writer) -> JSONResponse:
    return await _control(
        request,
        principal,
        job_id,
        jobs.ForceCheckpoint,
        (_S.RUNNING,),
        reason="forced through the API",
    )


async def _until_terminal(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    async for event in events:
        yield event
        if isinstance(event, TERMINAL_EVENTS):
            return


async def _nothing() -> AsyncIterator[Event]:
    return
    yield  # pragma: no cover - makes this an async generator


@router.get(
    "/jobs/{job_id}/logs",
    response_class=StreamingResponse,
    summary="The job's events as server-sent events; resumable with Last-Event-ID",
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "frames with id = seq"}},
)
async def job_logs(
    job_id: str,
    request: Request,
    principal: Reader,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    resources = resources_of(request)
    state = await find_job(resources, job_id)
    after = parse_last_event_id(last_event_id)
    store = await resources.event_store()
    if state.status in jobs.TERMINAL and after >= state.version:
        events: AsyncIterator[Event] = _nothing()
    else:
        feed = Feed(store, resources.redis, resources.projection_keys, default_codec())
        events = _until_terminal(feed.follow(job_id, after))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(sse_frames(events), media_type=MEDIA_TYPE, headers=headers)


@router.get(
    "/jobs/{job_id}/metrics",
    response_model=JobMetrics,
    summary="Step history, checkpoints and evaluations (event store)",
)
async def job_metrics(job_id: str, request: Request, principal: Reader) -> JobMetrics:
    resources = resources_of(request)
    state = await find_job(resources, job_id)
    history: list[Event] = await events_of(await resources.event_store(), job_id)
    steps = [e for e in history if isinstance(e, jobs.TrainingStepCompleted)]
    return JobMetrics(
        job_id=job_id,
        status=state.status.value,
        steps=[
            StepPoint(
                step=e.step,
                loss=e.loss,
                lr=e.lr,
                grad_norm=e.grad_norm,
                tokens_per_s=e.tokens_per_s,
                mean_iterations=e.mean_iterations,
                mean_entropy=e.mean_entropy,
                at=e.occurred_at,
            )
            for e in steps
            if not e.redone
        ],
        checkpoints=[
            CheckpointPoint(
                step=e.step, checkpoint_uri=e.checkpoint_uri, forced=e.forced, at=e.occurred_at
            )
            for e in history
            if isinstance(e, jobs.CheckpointSaved)
        ],
        evaluations=[
            EvaluationPoint(
                step=e.step,
                checkpoint_uri=e.checkpoint_uri,
                metrics=dict(e.metrics),
                at=e.occurred_at,
            )
            for e in history
            if isinstance(e, jobs.EvaluationCompleted)
        ],
        redone_steps=sum(1 for e in steps if e.redone),
    )
