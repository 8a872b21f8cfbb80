"""Which model ids inference serves, and what each can do: presets and ready registered models.

A model id names either a preset (``preset:<name>``: a fresh, seeded model of that preset that
every batcher builds the same way, what tests and demos serve without a training run) or a
model of the projection whose status is ``READY`` (it has a published checkpoint). Anything else
is a 404 before a command is written, so nobody waits for a batcher to say so; a registered model
without a checkpoint yet is a 409. Capabilities come from the preset's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.errors import Conflict, NotFound
from api.projection import ProjectionReader
from model.config import ModelConfig, preset, preset_names
from schemas.inference import KINDS
from schemas.models import ModelState, ModelStatus

PRESET_PREFIX = "preset:"


@dataclass(frozen=True)
class ServedModel:
    model_id: str
    preset: str
    owner: str
    created: datetime | None
    config: ModelConfig

    @property
    def kinds(self) -> tuple[str, ...]:
        return KINDS


def _served(model_id: str, preset_name: str, owner: str, created: datetime | None) -> ServedModel:
    return ServedModel(model_id, preset_name, owner, created, preset(preset_name))


def preset_models() -> list[ServedModel]:
    return [_served(f"{PRESET_PREFIX}{name}", name, "system", None) for name in preset_names()]


async def resolve(reader: ProjectionReader, model_id: str) -> ServedModel:
    """The model ``model_id`` if inference can serve it: 404 when unknown, 409 when not ready."""
    if model_id.startswith(PRESET_PREFIX):
        name = model_id.removeprefix(PRESET_PREFIX)
        if name not in preset_names():
            raise NotFound(f"no such model preset {name!r}", details={"model_id": model_id})
        return _served(model_id, name, "system", None)
    state = await reader.get(model_id, "model")
    gone = (ModelStatus.ABSENT, ModelStatus.RETIRED)
    if not isinstance(state, ModelState) or state.status in gone:
        raise NotFound("no such model", details={"model_id": model_id}, param="model")
    if state.checkpoint_uri is None:
        raise Conflict(
            "model has no checkpoint to serve yet",
            details={"model_id": model_id, "status": state.status.value},
        )
    name = state.preset if state.preset in preset_names() else "tiny"
    return _served(model_id, name, state.owner, state.registered_at)


async def ready_models(reader: ProjectionReader, limit: int = 500) -> list[ServedModel]:
    """Presets, then the ready registered models, newest first."""
    states = await reader.many(await reader.ids("model", None, 0, limit), "model")
    ready = [s for s in states if isinstance(s, ModelState) and s.checkpoint_uri is not None
             and s.status != ModelStatus.RETIRED]  # fmt: skip
    registered = [
        _served(s.model_id, s.preset if s.preset in preset_names() else "tiny", s.owner,
                s.registered_at)
        for s in ready
    ]  # fmt: skip
    return preset_models() + registered
