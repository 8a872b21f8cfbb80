"""The model lifecycle: ``REGISTERED → TRAINING → READY ⇄ TRAINING``, ``RETIRED`` from rest.

Deliberate choices: a model cannot be retired while a job trains it (cancel the job first); an
abandoned training run returns the model to ``READY`` when it already has a checkpoint, else to
``REGISTERED``; a checkpoint is accepted only from the job that is training the model.

Metadata and extensions change in any live status (``REGISTERED``, ``TRAINING``, ``READY``) and
never move the status. ``UpdateModel`` names only what changes (``None``: keep); its
``ModelUpdated`` states the resulting description and tags in full, so the fold needs no merge
rule. ``ConfigureModelExtension`` switches one extension of the model on or off and may change
some of its settings (strings: the model's ``ExtensionsConfig`` field types parse them where the
model is built); its ``ModelExtensionConfigured`` carries the extension's full settings after
the change. Which extension names and settings exist is the API's check, not the fold's. A
training job submitted for the model carries its extensions (``training_extensions``) and the
trained checkpoint's config keeps them; so a change applies from the model's next training job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from schemas.errors import IllegalTransition, UnknownEvent
from schemas.records import Command, Event, stamp


class ModelStatus(StrEnum):
    ABSENT = "ABSENT"
    REGISTERED = "REGISTERED"
    TRAINING = "TRAINING"
    READY = "READY"
    RETIRED = "RETIRED"


@dataclass(frozen=True, kw_only=True, slots=True)
class RegisterModel(Command):
    owner: str
    preset: str
    description: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class RetireModel(Command):
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class BeginModelTraining(Command):
    job_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishCheckpoint(Command):
    job_id: str
    checkpoint_uri: str
    step: int


@dataclass(frozen=True, kw_only=True, slots=True)
class AbandonModelTraining(Command):
    job_id: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class UpdateModel(Command):
    description: str | None = None
    tags: list[str] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfigureModelExtension(Command):
    extension: str
    enabled: bool
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelRegistered(Event):
    owner: str
    preset: str
    description: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelTrainingStarted(Event):
    job_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelCheckpointPublished(Event):
    job_id: str
    checkpoint_uri: str
    step: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelTrainingAbandoned(Event):
    job_id: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelRetired(Event):
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelUpdated(Event):
    description: str
    tags: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelExtensionConfigured(Event):
    extension: str
    enabled: bool
    settings: dict[str, str]


COMMANDS: tuple[type[Command], ...] = (
    RegisterModel, RetireModel, BeginModelTraining, PublishCheckpoint, AbandonModelTraining,
    UpdateModel, ConfigureModelExtension,
)  # fmt: skip
EVENTS: tuple[type[Event], ...] = (
    ModelRegistered, ModelTrainingStarted, ModelCheckpointPublished, ModelTrainingAbandoned,
    ModelRetired, ModelUpdated, ModelExtensionConfigured,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModelState:
    model_id: str = ""
    version: int = 0
    status: ModelStatus = ModelStatus.ABSENT
    owner: str = ""
    preset: str = ""
    description: str = ""
    training_job_id: str | None = None
    checkpoint_uri: str | None = None
    checkpoint_step: int = 0
    registered_at: datetime | None = None
    updated_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    enabled_extensions: list[str] = field(default_factory=list)  # sorted names
    extension_settings: dict[str, dict[str, str]] = field(default_factory=dict)


def training_extensions(state: ModelState) -> dict[str, str]:
    """What a training job of this model carries as ``StartTraining.extensions``: each enabled
    extension's switch (its name) on, and its settings; a disabled one's settings are left out
    (they take effect if it is switched on for a later job)."""
    flat: dict[str, str] = {}
    for name in state.enabled_extensions:
        flat |= {name: "True", **state.extension_settings.get(name, {})}
    return flat


Decided = list[tuple[type[Event], dict[str, Any]]]
M = ModelStatus


def _register(state: ModelState, c: Any) -> Decided:
    payload = {"owner": c.owner, "preset": c.preset, "description": c.description}
    return [(ModelRegistered, payload)]


def _publish(state: ModelState, c: Any) -> Decided:
    if c.job_id != state.training_job_id:
        raise IllegalTransition(state, c)
    payload = {"job_id": c.job_id, "checkpoint_uri": c.checkpoint_uri, "step": c.step}
    return [(ModelCheckpointPublished, payload)]


def _abandon(state: ModelState, c: Any) -> Decided:
    if c.job_id != state.training_job_id:
        raise IllegalTransition(state, c)
    return [(ModelTrainingAbandoned, {"job_id": c.job_id, "reason": c.reason})]


def _update(state: ModelState, c: Any) -> Decided:
    description = state.description if c.description is None else c.description
    tags = list(state.tags) if c.tags is None else list(dict.fromkeys(c.tags))
    return [(ModelUpdated, {"description": description, "tags": tags})]


def _configure(state: ModelState, c: Any) -> Decided:
    settings = {**state.extension_settings.get(c.extension, {}), **c.settings}
    payload = {"extension": c.extension, "enabled": c.enabled, "settings": settings}
    return [(ModelExtensionConfigured, payload)]


_LIVE = (M.REGISTERED, M.TRAINING, M.READY)
_RULES: dict[tuple[ModelStatus, type[Command]], Callable[[ModelState, Any], Decided]] = {
    (M.ABSENT, RegisterModel): _register,
    (M.REGISTERED, BeginModelTraining): lambda s, c: [(ModelTrainingStarted, {"job_id": c.job_id})],
    (M.READY, BeginModelTraining): lambda s, c: [(ModelTrainingStarted, {"job_id": c.job_id})],
    (M.TRAINING, PublishCheckpoint): _publish,
    (M.TRAINING, AbandonModelTraining): _abandon,
    (M.REGISTERED, RetireModel): lambda s, c: [(ModelRetired, {"reason": c.reason})],
    (M.READY, RetireModel): lambda s, c: [(ModelRetired, {"reason": c.reason})],
    **{(status, UpdateModel): _update for status in _LIVE},
    **{(status, ConfigureModelExtension): _configure for status in _LIVE},
}


def decide(state: ModelState, command: Command) -> list[Event]:
    rule = _RULES.get((state.status, type(command)))
    if rule is None:
        raise IllegalTransition(state, command)
    return stamp(command, state.version, rule(state, command))


_FROM: dict[type[Event], tuple[ModelStatus, ...]] = {
    ModelRegistered: (M.ABSENT,),
    ModelTrainingStarted: (M.REGISTERED, M.READY),
    ModelCheckpointPublished: (M.TRAINING,),
    ModelTrainingAbandoned: (M.TRAINING,),
    ModelRetired: (M.REGISTERED, M.READY),
    ModelUpdated: _LIVE,
    ModelExtensionConfigured: _LIVE,
}


def _apply(state: ModelState, e: Event) -> ModelState:
    match e:
        case ModelRegistered():
            return replace(
                state, model_id=e.stream_id, status=M.REGISTERED, owner=e.owner,
                preset=e.preset, description=e.description, registered_at=e.occurred_at,
            )  # fmt: skip
        case ModelTrainingStarted():
            return replace(state, status=M.TRAINING, training_job_id=e.job_id)
        case ModelCheckpointPublished():
            return replace(
                state, status=M.READY, training_job_id=None, checkpoint_uri=e.checkpoint_uri,
                checkpoint_step=e.step,
            )  # fmt: skip
        case ModelTrainingAbandoned():
            status = M.READY if state.checkpoint_uri else M.REGISTERED
            return replace(state, status=status, training_job_id=None)
        case ModelRetired():
            return replace(state, status=M.RETIRED)
        case ModelUpdated():
            return replace(state, description=e.description, tags=list(e.tags))
        case ModelExtensionConfigured():
            enabled = set(state.enabled_extensions) - {e.extension}
            enabled |= {e.extension} if e.enabled else set()
            settings = {**state.extension_settings, e.extension: dict(e.settings)}
            return replace(state, enabled_extensions=sorted(enabled), extension_settings=settings)
    raise UnknownEvent(state, e)


def evolve(state: ModelState, event: Event) -> ModelState:
    allowed = _FROM.get(type(event))
    if allowed is None or state.status not in allowed:
        raise UnknownEvent(state, event)
    return replace(_apply(state, event), version=event.seq, updated_at=event.occurred_at)
