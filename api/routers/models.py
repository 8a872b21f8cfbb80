"""Models: register, list, get, update, retire, load, unload, status, checkpoint versions, and
each model's extensions (list, enable, disable, update).

Register, update, retire and the extension changes are commands on ``qllm.commands.models`` (the
model handler decides them); load and unload go on ``qllm.commands.inference`` keyed by the
model, where the inference batcher that owns the model's partition acts on them and answers on
the results topic. Reads come from
the projection (the model now) and the event store (its published checkpoints, the versions).
``models:write`` registers; updating, retiring, loading and unloading need the caller to own the
model (or be an admin); so do extension changes, under ``extensions:write``. A change to a
retired model is a 409 before anything is published. Extensions take effect from the model's
next training job: a job carries the model's switched-on extensions when it is submitted (shown
as the job's ``extensions``), and the checkpoint it trains keeps them for inference.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import commands
from api.auth.ownership import ensure_can_manage
from api.auth.permissions import Permission
from api.auth.principal import Principal, require, resources_of
from api.errors import Conflict, NotFound
from api.history import events_of
from api.projection import MAX_OFFSET, ProjectionReader, path_read, state_for
from api.resources import Resources
from api.routers import extensions
from api.validation import check_preset, field_error
from api.wire.models import CheckpointVersion, ModelOut, ModelPage, ModelStatusOut, NewModel
from schemas import inference
from schemas.models import (
    ConfigureModelExtension,
    ModelCheckpointPublished,
    ModelState,
    ModelStatus,
    RegisterModel,
    RetireModel,
    UpdateModel,
)
from schemas.records import command

router = APIRouter(prefix="/api/v1/models", tags=["models"])
Reader = Annotated[Principal, Depends(require(Permission.MODELS_READ))]
# the model of the path is read with the rate-limit decision (one Redis round trip)
ModelReader = Annotated[Principal, Depends(require(Permission.MODELS_READ, path_read("model_id")))]
Writer = Annotated[Principal, Depends(require(Permission.MODELS_WRITE))]
ExtensionReader = Annotated[Principal, Depends(require(Permission.EXTENSIONS_READ))]
ExtensionWriter = Annotated[Principal, Depends(require(Permission.EXTENSIONS_WRITE))]
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class ModelDetail(ModelOut):
    tags: list[str] = Field(default_factory=list)
    enabled_extensions: list[str] = Field(default_factory=list)


class ModelPatch(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"description": "v2", "tags": ["demo"]}]}}
    description: str | None = Field(None, max_length=2000)
    tags: list[Tag] | None = Field(None, max_length=32)


class ExtensionPatch(BaseModel):
    model_config = {
        "json_schema_extra": {"examples": [{"enabled": True, "settings": {"memory_slots": 64}}]}
    }
    enabled: bool | None = Field(None, description="absent: keep the model's switch")
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)


class ModelExtension(BaseModel):
    name: str
    enabled: bool
    settings: dict[str, str] = Field(description="the defaults with the model's own changes")


_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "the command is in Kafka; poll the Location"}
}


def model_location(model_id: str) -> str:
    return f"/api/v1/models/{model_id}"


async def find_model(
    resources: Resources, model_id: str, request: Request | None = None
) -> ModelState:
    """The model as projected (with ``request``: from the row its ``ModelReader`` read, if any)."""
    if request is not None:
        state = await state_for(request, model_id, "model")
    else:
        projection = ProjectionReader(resources.redis, resources.projection_keys)
        state = await projection.get(model_id, "model")
    if state is None:
        raise NotFound("no such model", details={"model_id": model_id})
    assert isinstance(state, ModelState)
    return state


def model_out(state: ModelState) -> ModelDetail:
    return ModelDetail.model_validate(state, from_attributes=True)  # no deep copy


async def managed_model(
    request: Request, principal: Principal, model_id: str, permission: Permission
) -> tuple[Resources, ModelState]:
    """The model, if ``principal`` may change it and it is not retired (404, 403, 409)."""
    resources = resources_of(request)
    state = await find_model(resources, model_id)
    ensure_can_manage(principal, state.owner, permission, f"model {model_id}")
    if state.status is ModelStatus.RETIRED:
        raise Conflict(
            f"model {model_id} is RETIRED",
            details={"model_id": model_id, "status": state.status.value},
        )
    return resources, state


@router.get("", response_model=ModelPage, summary="List models, newest first")
async def list_models(
    request: Request,
    principal: Reader,
    owner: Annotated[str | None, Query()] = None,
    status: Annotated[ModelStatus | None, Query()] = None,
    preset: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ModelPage:
    resources = resources_of(request)
    projection = ProjectionReader(resources.redis, resources.projection_keys)
    states = await projection.many(await projection.ids("model", owner, offset, limit), "model")
    kept = [
        s
        for s in states
        if (status is None or s.status is status) and (preset is None or s.preset == preset)
    ]
    return ModelPage(items=[model_out(s) for s in kept], offset=offset, limit=limit)


@router.post("", status_code=202, responses=_ACCEPTED, summary="Register a model")
async def create_model(body: NewModel, request: Request, principal: Writer) -> JSONResponse:
    resources = resources_of(request)
    check_preset(body.preset)
    model_id = body.model_id or f"model-{uuid.uuid4().hex[:12]}"
    if body.model_id is not None:
        existing = await ProjectionReader(resources.redis, resources.projection_keys).get(
            model_id, "model"
        )
        if existing is not None:
            raise Conflict(f"model {model_id} exists", details={"model_id": model_id})
    record = command(
        RegisterModel,
        model_id,
        principal.subject,
        owner=principal.subject,
        preset=body.preset,
        description=body.description,
    )
    return await commands.accept(resources, record, model_location(model_id))


@router.get("/{model_id}", response_model=ModelDetail, summary="A model as it is now")
async def get_model(model_id: str, request: Request, principal: ModelReader) -> ModelDetail:
    return model_out(await find_model(resources_of(request), model_id, request))


@router.patch(
    "/{model_id}", status_code=202, responses=_ACCEPTED, summary="Change description or tags"
)
async def update_model(
    model_id: str, body: ModelPatch, request: Request, principal: Writer
) -> JSONResponse:
    if body.description is None and body.tags is None:
        raise field_error("description", "name at least one of description, tags")
    resources, _ = await managed_model(request, principal, model_id, Permission.MODELS_WRITE)
    record = command(UpdateModel, model_id, principal.subject, description=body.description,
                     tags=body.tags)  # fmt: skip
    return await commands.accept(resources, record, model_location(model_id))


def _extension(state: ModelState, name: str) -> ModelExtension:
    settings = {**extensions.defaults(name), **state.extension_settings.get(name, {})}
    return ModelExtension(name=name, enabled=name in state.enabled_extensions, settings=settings)


@router.get(
    "/{model_id}/extensions",
    response_model=list[ModelExtension],
    summary="The model's extensions: switched on or not, and their settings",
)
async def model_extensions(
    model_id: str, request: Request, principal: ExtensionReader
) -> list[ModelExtension]:
    state = await find_model(resources_of(request), model_id)
    return [_extension(state, name) for name in extensions.names()]


async def _configure(
    request: Request, principal: Principal, model_id: str, name: str, body: ExtensionPatch
) -> JSONResponse:
    extensions.switchable(name)
    settings = extensions.check_settings(name, body.settings)
    resources, state = await managed_model(
        request, principal, model_id, Permission.EXTENSIONS_WRITE
    )
    enabled = name in state.enabled_extensions if body.enabled is None else body.enabled
    record = command(ConfigureModelExtension, model_id, principal.subject, extension=name,
                     enabled=enabled, settings=settings)  # fmt: skip
    location = f"{model_location(model_id)}/extensions"
    return await commands.accept(resources, record, location, {"extension": name})


@router.patch(
    "/{model_id}/extensions/{name}",
    status_code=202,
    responses=_ACCEPTED,
    summary="Switch an extension of the model and/or change its settings",
    description="Takes effect from the model's next training job (the job carries the model's "
    "switched-on extensions; its checkpoint keeps them for inference).",
)
async def update_model_extension(
    model_id: str, name: str, body: ExtensionPatch, request: Request, principal: ExtensionWriter
) -> JSONResponse:
    return await _configure(request, principal, model_id, name, body)


@router.post(
    "/{model_id}/extensions/{name}/enable",
    status_code=202,
    responses=_ACCEPTED,
    summary="Switch an extension on for the model",
)
async def enable_model_extension(
    model_id: str, name: str, request: Request, principal: ExtensionWriter
) -> JSONResponse:
    return await _configure(request, principal, model_id, name, ExtensionPatch(enabled=True))


@router.post(
    "/{model_id}/extensions/{name}/disable",
    status_code=202,
    responses=_ACCEPTED,
    summary="Switch an extension off for the model",
)
async def disable_model_extension(
    model_id: str, name: str, request: Request, principal: ExtensionWriter
) -> JSONResponse:
    return await _configure(request, principal, model_id, name, ExtensionPatch(enabled=False))


@router.delete("/{model_id}", status_code=202, responses=_ACCEPTED, summary="Retire a model")
async def retire_model(
    model_id: str,
    request: Request,
    principal: Writer,
    reason: Annotated[str, Query(max_length=500)] = "retired through the API",
) -> JSONResponse:
    resources = resources_of(request)
    state = await find_model(resources, model_id)
    ensure_can_manage(principal, state.owner, Permission.MODELS_WRITE, f"model {model_id}")
    if state.status not in (ModelStatus.REGISTERED, ModelStatus.READY):
        raise Conflict(
            f"model {model_id} is {state.status.value}",
            details={"model_id": model_id, "status": state.status.value},
        )
    record = command(RetireModel, model_id, principal.subject, reason=reason)
    return await commands.accept(resources, record, model_location(model_id))


async def _cache_command(
    request: Request,
    principal: Principal,
    model_id: str,
    cls: type[inference.LoadModel] | type[inference.UnloadModel],
) -> JSONResponse:
    resources = resources_of(request)
    state = await find_model(resources, model_id)
    ensure_can_manage(principal, state.owner, Permission.MODELS_WRITE, f"model {model_id}")
    if cls is inference.LoadModel and state.status is not ModelStatus.READY:
        raise Conflict(
            f"model {model_id} is {state.status.value}; only READY models load",
            details={"model_id": model_id, "status": state.status.value},
        )
    request_id = f"req-{uuid.uuid4().hex}"
    record = command(cls, request_id, principal.subject, model_id=model_id)
    location = f"{model_location(model_id)}/status"
    return await commands.accept(resources, record, location, {"request_id": request_id})


@router.post(
    "/{model_id}/load",
    status_code=202,
    responses=_ACCEPTED,
    summary="Load the model into an inference worker's memory",
)
async def load_model(model_id: str, request: Request, principal: Writer) -> JSONResponse:
    return await _cache_command(request, principal, model_id, inference.LoadModel)


@router.post(
    "/{model_id}/unload",
    status_code=202,
    responses=_ACCEPTED,
    summary="Drop the model from inference memory",
)
async def unload_model(model_id: str, request: Request, principal: Writer) -> JSONResponse:
    return await _cache_command(request, principal, model_id, inference.UnloadModel)


@router.get("/{model_id}/status", response_model=ModelStatusOut, summary="Lifecycle status")
async def model_status(model_id: str, request: Request, principal: ModelReader) -> ModelStatusOut:
    state = await find_model(resources_of(request), model_id, request)
    return ModelStatusOut(
        model_id=model_id,
        status=state.status.value,
        servable=state.status is ModelStatus.READY and state.checkpoint_uri is not None,
        training_job_id=state.training_job_id,
        checkpoint_step=state.checkpoint_step,
    )


@router.get(
    "/{model_id}/versions",
    response_model=list[CheckpointVersion],
    summary="The checkpoints the model published, oldest first",
)
async def model_versions(
    model_id: str, request: Request, principal: Reader
) -> list[CheckpointVersion]:
    resources = resources_of(request)
    await find_model(resources, model_id)
    published = await events_of(await resources.event_store(), model_id, ModelCheckpointPublished)
    return [
        CheckpointVersion(
            version=i,
            step=e.step,
            checkpoint_uri=e.checkpoint_uri,
            job_id=e.job_id,
            published_at=e.occurred_at,
        )
        for i, e in enumerate(published, start=1)
    ]
