"""``/api/v1/qraf``: the QRAF service: states, optimize, correct, quantize, memory, enhance, metrics

Writes are commands on ``qllm.commands.kernels`` (key: state id) answered ``202`` with a
``Location`` after Kafka acknowledged them; the kernel worker applies them and the state's
events tell the outcome (``GET …/states/{id}`` from the projection, ``GET …/states/{id}/metrics``
from the event store). A command the state would refuse is refused here first: unknown or deleted
state 404, an operation while one is applying 409 (the worker would dead-letter it). Only the
state's creator (or an admin) may operate on, delete or enhance with a state (403 otherwise);
reads stay open to every ``states:read`` role.

Operations map onto the kernel worker's (``schemas.states.OPERATIONS``): optimize/density →
``optimize_density``, optimize/quantization and quantize → ``quantize`` (same operation; the
first is its name in the optimize family), correct → ``correct_errors``, memory →
``compress_memory`` (write the state into its compressive memory), optimize/batch → one command
per listed state. ``enhance`` is generation with the state's memory (``qraf_memory``).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api import model_catalog
from api.auth.ownership import ensure_can_manage
from api.auth.permissions import Permission
from api.auth.principal import Principal, require, resources_of
from api.commands import accept, publish
from api.errors import Conflict, NotFound
from api.history import events_of
from api.inference_client import Inference, answer, new_ask
from api.qraf_memory import enhanced_prompt, memory_lines, operations
from api.qraf_models import (
    BatchOptimize,
    Correction,
    Density,
    Enhance,
    EnhanceOut,
    NewState,
    OnState,
    Quantization,
    StateMetrics,
    StateOut,
)
from api.routers.inference import projection
from schemas.records import command
from schemas.states import (
    ApplyStateOperation,
    CreateState,
    DeleteState,
    QraftState,
    StateStatus,
)

router = APIRouter(prefix="/api/v1/qraf", tags=["qraf"])
Runner = Annotated[Principal, Depends(require(Permission.QRAF_RUN))]
Reader = Annotated[Principal, Depends(require(Permission.STATES_READ))]
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "accepted: the command is in Kafka"},
    404: {"description": "no such state"},
    409: {"description": "the state is applying another operation"},
    503: {"description": "Kafka unavailable"},
}


def _location(state_id: str) -> str:
    return f"/api/v1/qraf/states/{state_id}"


async def _state(request: Request, state_id: str) -> QraftState:
    state = await projection(request).get(state_id, "state")
    if not isinstance(state, QraftState) or state.status in (StateStatus.ABSENT,
                                                              StateStatus.DELETED):  # fmt: skip
        raise NotFound("no such state", details={"state_id": state_id})
    return state


async def _owned(request: Request, caller: Principal, state_id: str) -> QraftState:
    """The state, if ``caller`` created it (or is an admin): 403 otherwise."""
    state = await _state(request, state_id)
    ensure_can_manage(caller, state.owner, Permission.QRAF_RUN, f"state {state_id}")
    return state


async def _ready(request: Request, caller: Principal, state_id: str) -> QraftState:
    state = await _owned(request, caller, state_id)
    if state.status != StateStatus.READY:
        raise Conflict("the state is applying another operation",
                       details={"state_id": state_id, "operation": state.operation})  # fmt: skip
    return state


async def _apply(
    request: Request, caller: Principal, on: OnState, operation: str, params: dict[str, float]
) -> JSONResponse:
    await _ready(request, caller, on.state_id)
    cmd = command(ApplyStateOperation, on.state_id, caller.subject, operation=operation,
                  params=params)  # fmt: skip
    return await accept(resources_of(request), cmd, _location(on.state_id),
                        {"operation": operation, "params": params})  # fmt: skip


@router.post("/states", status_code=202, responses=_ACCEPTED, summary="Create a QRAF state")
async def create_state(body: NewState, request: Request, caller: Runner) -> JSONResponse:
    state_id = str(uuid.uuid4())
    cmd = command(CreateState, state_id, caller.subject, owner=caller.subject,
                  dimension=body.dimension, real=body.real, imag=body.imag)  # fmt: skip
    return await accept(resources_of(request), cmd, _location(state_id))


@router.get("/states/{state_id}", response_model=StateOut, summary="Get a QRAF state",
            responses={404: {"description": "no such state"}})  # fmt: skip
async def get_state(state_id: str, request: Request, caller: Reader) -> StateOut:
    s = await _state(request, state_id)
    return StateOut(
        state_id=s.state_id, status=s.status.value, owner=s.owner, dimension=s.dimension,
        from_data=s.from_data, operation=s.operation, operations_applied=s.operations_applied,
        last_error=s.last_error, version=s.version, created_at=s.created_at,
        updated_at=s.updated_at,
    )  # fmt: skip


@router.delete("/states/{state_id}", status_code=202, responses=_ACCEPTED,
               summary="Delete a QRAF state")  # fmt: skip
async def delete_state(state_id: str, request: Request, caller: Runner) -> JSONResponse:
    await _ready(request, caller, state_id)
    cmd = command(DeleteState, state_id, caller.subject)
    return await accept(resources_of(request), cmd, _location(state_id))


@router.post("/optimize/density", status_code=202, responses=_ACCEPTED,
             summary="Optimize a state's density matrix (purity, entropy, coherence)")  # fmt: skip
async def optimize_density(body: Density, request: Request, caller: Runner) -> JSONResponse:
    params = {"noise": body.noise, "seed": float(body.seed)}
    return await _apply(request, caller, body, "optimize_density", params)


@router.post("/optimize/quantization", status_code=202, responses=_ACCEPTED,
             summary="Optimize a state by quantization (2, 4 or 8 bits)")  # fmt: skip
async def optimize_quantization(
    body: Quantization, request: Request, caller: Runner
) -> JSONResponse:
    return await _apply(request, caller, body, "quantize", {"bits": float(body.bits)})


@router.post("/optimize/batch", status_code=202, responses=_ACCEPTED,
             summary="Apply operations to several states (one command each)")  # fmt: skip
async def optimize_batch(body: BatchOptimize, request: Request, caller: Runner) -> JSONResponse:
    ids = [item.state_id for item in body.items]
    if len(set(ids)) != len(ids):
        raise Conflict("a state may appear once per batch (it runs one operation at a time)",
                       details={"state_ids": ids})  # fmt: skip
    for item in body.items:
        await _ready(request, caller, item.state_id)
    accepted = []
    for item in body.items:
        cmd = command(ApplyStateOperation, item.state_id, caller.subject,
                      operation=item.operation, params=item.params)  # fmt: skip
        await publish(resources_of(request), cmd)
        where = _location(item.state_id)
        accepted.append({"state_id": item.state_id, "command_id": cmd.event_id,
                         "operation": item.operation, "location": where})  # fmt: skip
    return JSONResponse({"status": "accepted", "items": accepted}, status_code=202,
                        headers={"Location": _location(ids[0])})  # fmt: skip


@router.post("/correct", status_code=202, responses=_ACCEPTED,
             summary="Error-correct a state (repetition code)")  # fmt: skip
async def correct(body: Correction, request: Request, caller: Runner) -> JSONResponse:
    params = {"n": float(body.n), "flip_prob": body.flip_prob, "seed": float(body.seed)}
    return await _apply(request, caller, body, "correct_errors", params)


@router.post("/quantize", status_code=202, responses=_ACCEPTED, summary="Quantize a state")
async def quantize(body: Quantization, request: Request, caller: Runner) -> JSONResponse:
    return await _apply(request, caller, body, "quantize", {"bits": float(body.bits)})


@router.post("/memory", status_code=202, responses=_ACCEPTED,
             summary="Write a state into its compressive memory")  # fmt: skip
async def memory(body: OnState, request: Request, caller: Runner) -> JSONResponse:
    return await _apply(request, caller, body, "compress_memory", {})


async def _operations(request: Request, state_id: str) -> list[Any]:
    store = await resources_of(request).event_store()
    return operations(await events_of(store, state_id))


@router.get("/states/{state_id}/metrics", response_model=StateMetrics,
            responses={404: {"description": "no such state"}},
            summary="A state's operation results, oldest first (from the event store)")  # fmt: skip
async def metrics(state_id: str, request: Request, caller: Reader) -> StateMetrics:
    await _state(request, state_id)
    return StateMetrics(state_id=state_id, operations=await _operations(request, state_id))


@router.post("/enhance", response_model=EnhanceOut,
             responses={404: {"description": "no such state or model"}},
             summary="Generate text enhanced by a state's memory")  # fmt: skip
async def enhance(body: Enhance, request: Request, caller: Runner) -> EnhanceOut:
    await _owned(request, caller, body.state_id)
    await model_catalog.resolve(projection(request), body.model)
    lines = memory_lines(await _operations(request, body.state_id), body.memory_items)
    ctx = Inference.of(request)
    ask = new_ask(ctx, caller.subject, body.model, "generate",
                  prompt=enhanced_prompt(lines, body.prompt), max_tokens=body.max_tokens,
                  temperature=body.temperature)  # fmt: skip
    found = await answer(ctx, request, ask)
    return EnhanceOut(request_id=ask.request_id, state_id=body.state_id, model=body.model,
                      text=found.text, memory=lines, prompt_tokens=found.prompt_tokens,
                      completion_tokens=found.completion_tokens)  # fmt: skip
