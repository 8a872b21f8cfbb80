"""The lifecycle of a QRAF state: ``READY ⇄ APPLYING``, then ``DELETED``.

A state runs one operation at a time (quantization, density optimization, error correction,
compressive memory); a second operation while one is applying is refused, as is deleting it.

A state is created from data (v2: ``real`` and ``imag``, the amplitudes of its complex vector,
each of length ``dimension``; ``imag`` may be empty for a real vector) or, with no data, from a
seeded random unit vector (v1 behaviour). The data lives in ``StateCreated`` (the stream can
always rebuild the state) but not in the folded ``QraftState``, which the projection stores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from schemas.errors import IllegalTransition, UnknownEvent
from schemas.records import Command, Event, stamp

OPERATIONS = frozenset({"quantize", "optimize_density", "correct_errors", "compress_memory"})


class StateStatus(StrEnum):
    ABSENT = "ABSENT"
    READY = "READY"
    APPLYING = "APPLYING"
    DELETED = "DELETED"


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateState(Command):
    owner: str
    dimension: int
    real: list[float] = field(default_factory=list)  # v2: the vector's data (empty: seeded)
    imag: list[float] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class ApplyStateOperation(Command):
    operation: str
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class CompleteStateOperation(Command):
    operation: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class FailStateOperation(Command):
    operation: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DeleteState(Command):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class StateCreated(Event):
    owner: str
    dimension: int
    real: list[float] = field(default_factory=list)  # v2, as CreateState's
    imag: list[float] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class StateOperationStarted(Event):
    operation: str
    params: dict[str, float]


@dataclass(frozen=True, kw_only=True, slots=True)
class StateOperationApplied(Event):
    operation: str
    metrics: dict[str, float]


@dataclass(frozen=True, kw_only=True, slots=True)
class StateOperationFailed(Event):
    operation: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class StateDeleted(Event):
    pass


COMMANDS: tuple[type[Command], ...] = (
    CreateState, ApplyStateOperation, CompleteStateOperation, FailStateOperation, DeleteState,
)  # fmt: skip
EVENTS: tuple[type[Event], ...] = (
    StateCreated, StateOperationStarted, StateOperationApplied, StateOperationFailed, StateDeleted,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class QraftState:
    state_id: str = ""
    version: int = 0
    status: StateStatus = StateStatus.ABSENT
    owner: str = ""
    dimension: int = 0
    from_data: bool = False  # created from given amplitudes (else a seeded random vector)
    operation: str | None = None
    operations_applied: int = 0
    last_error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


Decided = list[tuple[type[Event], dict[str, Any]]]
T = StateStatus


def _create(state: QraftState, c: Any) -> Decided:
    sizes_ok = not c.real or (len(c.real) == c.dimension and len(c.imag) in (0, c.dimension))
    if c.dimension < 1 or not sizes_ok or (c.imag and not c.real):
        raise IllegalTransition(state, c)
    payload = {"owner": c.owner, "dimension": c.dimension}
    return [(StateCreated, {**payload, "real": list(c.real), "imag": list(c.imag)})]


def _start(state: QraftState, c: Any) -> Decided:
    if c.operation not in OPERATIONS:
        raise IllegalTransition(state, c)
    return [(StateOperationStarted, {"operation": c.operation, "params": dict(c.params)})]


def _finish(state: QraftState, c: Any) -> Decided:
    if c.operation != state.operation:
        raise IllegalTransition(state, c)
    if isinstance(c, CompleteStateOperation):
        return [(StateOperationApplied, {"operation": c.operation, "metrics": dict(c.metrics)})]
    return [(StateOperationFailed, {"operation": c.operation, "reason": c.reason})]


_RULES: dict[tuple[StateStatus, type[Command]], Callable[[QraftState, Any], Decided]] = {
    (T.ABSENT, CreateState): _create,
    (T.READY, ApplyStateOperation): _start,
    (T.APPLYING, CompleteStateOperation): _finish,
    (T.APPLYING, FailStateOperation): _finish,
    (T.READY, DeleteState): lambda s, c: [(StateDeleted, {})],
}


def decide(state: QraftState, command: Command) -> list[Event]:
    rule = _RULES.get((state.status, type(command)))
    if rule is None:
        raise IllegalTransition(state, command)
    return stamp(command, state.version, rule(state, command))


_FROM: dict[type[Event], tuple[StateStatus, ...]] = {
    StateCreated: (T.ABSENT,),
    StateOperationStarted: (T.READY,),
    StateOperationApplied: (T.APPLYING,),
    StateOperationFailed: (T.APPLYING,),
    StateDeleted: (T.READY,),
}


def _apply(state: QraftState, e: Event) -> QraftState:
    match e:
        case StateCreated():
            return replace(
                state, state_id=e.stream_id, status=T.READY, owner=e.owner,
                dimension=e.dimension, from_data=bool(e.real), created_at=e.occurred_at,
            )  # fmt: skip
        case StateOperationStarted():
            return replace(state, status=T.APPLYING, operation=e.operation)
        case StateOperationApplied():
            applied = state.operations_applied + 1
            return replace(state, status=T.READY, operation=None, operations_applied=applied)
        case StateOperationFailed():
            return replace(state, status=T.READY, operation=None, last_error=e.reason)
        case StateDeleted():
            return replace(state, status=T.DELETED)
    raise UnknownEvent(state, e)


def evolve(state: QraftState, event: Event) -> QraftState:
    allowed = _FROM.get(type(event))
    if allowed is None or state.status not in allowed:
        raise UnknownEvent(state, event)
    return replace(_apply(state, event), version=event.seq, updated_at=event.occurred_at)
