"""Model extensions: what exists, its settings, and their JSON schema (``extensions:read``).

Read from ``model.ExtensionsConfig``, the switch and settings each model's config carries
(memory, multimodal, quantum, observer run in the forward; structured output is a decoding
constraint with no switch). Per model, an extension is switched and tuned through the model
routes (``/api/v1/models/{id}/extensions/{name}``, a ``ConfigureModelExtension`` command); this
module is their catalogue: which extensions have a switch, and ``check_settings``, which parses
settings with the types of ``ExtensionsConfig`` and writes them as the strings the record carries.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.auth.permissions import Permission
from api.auth.principal import Principal, require
from api.errors import NotFound
from api.validation import field_error
from model import ConfigError, ExtensionsConfig

router = APIRouter(prefix="/api/v1/extensions", tags=["extensions"])
Reader = Annotated[Principal, Depends(require(Permission.EXTENSIONS_READ))]

_SETTINGS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "memory": (
        "memory",
        ("memory_slots", "memory_top_k", "memory_gate"),
        "compressive key-value memory read into the final hidden states",
    ),
    "multimodal": ("multimodal", ("image_dim", "fusion"), "image features fused into the text"),
    "quantum": ("quantum", ("quantum_group",), "group-structured phase rotation of the states"),
    "observer": ("observer", (), "records per-layer resonance observations; changes nothing"),
    "structured": ("", (), "JSON-schema constrained decoding (per request; no switch)"),
}

ExtensionName = Annotated[str, Path(examples=list(_SETTINGS))]


class ExtensionOut(BaseModel):
    name: str
    description: str
    switch: str | None
    enabled_by_default: bool
    settings: dict[str, Any]


def _describe(name: str) -> ExtensionOut:
    switch, settings, description = _SETTINGS[name]
    defaults = dataclasses.asdict(ExtensionsConfig())
    return ExtensionOut(
        name=name,
        description=description,
        switch=switch or None,
        enabled_by_default=bool(defaults.get(switch, False)) if switch else True,
        settings={key: defaults[key] for key in settings},
    )


def _known(name: str) -> None:
    if name not in _SETTINGS:
        raise NotFound("no such extension", details={"extension": name, "known": list(_SETTINGS)})


def switchable(name: str) -> None:
    """404 for an unknown extension, 422 for one without a per-model switch."""
    _known(name)
    if not _SETTINGS[name][0]:
        raise field_error("extension", f"{name!r} has no per-model switch", name)


def names() -> list[str]:
    """The extensions a model can switch, in forward order."""
    return [name for name, (switch, _, _) in _SETTINGS.items() if switch]


def defaults(name: str) -> dict[str, str]:
    """An extension's settings as ``ExtensionsConfig`` sets them, as strings."""
    values = dataclasses.asdict(ExtensionsConfig())
    return {key: str(values[key]) for key in _SETTINGS[name][1]}


def check_settings(name: str, settings: dict[str, Any]) -> dict[str, str]:
    """``settings`` of extension ``name`` parsed with ``ExtensionsConfig``'s types (422 naming
    the setting when unknown or ill-typed), written as strings."""
    checked: dict[str, str] = {}
    for key, value in settings.items():
        field = f"settings.{key}"
        if key not in _SETTINGS[name][1]:
            raise field_error(field, f"not a setting of {name!r}; one of {_SETTINGS[name][1]}")
        try:
            parsed = _ADAPTERS[key].validate_python(value, strict=not isinstance(value, str))
        except ValidationError as exc:
            raise field_error(field, exc.errors()[0]["msg"], value) from exc
        try:  # the model's own range checks (slots >= 1 …), so no job fails on them later
            ExtensionsConfig.from_strings({key: str(parsed)})
        except ConfigError as exc:
            raise field_error(field, str(exc), value) from exc
        checked[key] = str(parsed)
    return checked


_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    key: TypeAdapter(hint) for key, hint in typing.get_type_hints(ExtensionsConfig).items()
}


@router.get("", response_model=list[ExtensionOut], summary="Every extension")
async def list_extensions(principal: Reader) -> list[ExtensionOut]:
    return [_describe(name) for name in _SETTINGS]


@router.get("/{name}", response_model=ExtensionOut, summary="One extension and its defaults")
async def get_extension(name: ExtensionName, request: Request, principal: Reader) -> ExtensionOut:
    _known(name)
    return _describe(name)


@router.get("/{name}/schema", summary="JSON schema of an extension's settings")
async def extension_schema(name: ExtensionName, principal: Reader) -> dict[str, Any]:
    _known(name)
    full = TypeAdapter(ExtensionsConfig).json_schema()
    switch, settings, _ = _SETTINGS[name]
    keep = ([switch] if switch else []) + list(settings)
    props = {k: v for k, v in full.get("properties", {}).items() if k in keep}
    return {"title": name, "type": "object", "properties": props}
