"""Derive the Avro schema of a record dataclass (used to write and check the shipped ``.avsc``).

The shipped files are the source of truth the codec reads; this derivation exists so a test can
prove that the newest shipped version of every record matches its dataclass, and so adding a
version is ``python -m schemas.registry add`` rather than hand-editing JSON.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from typing import Any

from schemas.records import Record

NAMESPACE = "qllm"
_PRIMITIVES: dict[Any, Any] = {
    str: "string",
    int: "long",
    float: "double",
    bool: "boolean",
    datetime: {"type": "long", "logicalType": "timestamp-micros"},
}
_ENVELOPE_ORDER = ("event_id", "stream_id", "seq", "type", "occurred_at", "causation_id", "actor")


def avro_type(hint: Any) -> Any:
    """The Avro type of an annotation (str, int, float, bool, datetime, X | None, dict, list)."""
    if hint in _PRIMITIVES:
        return _PRIMITIVES[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        (inner,) = [arg for arg in args if arg is not type(None)]
        return ["null", avro_type(inner)]
    if origin is dict and args[0] is str:
        return {"type": "map", "values": avro_type(args[1])}
    if origin is list:
        return {"type": "array", "items": avro_type(args[0])}
    raise TypeError(f"no Avro type for {hint!r}")


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def avro_schema(cls: type[Record]) -> dict[str, Any]:
    """The record schema of ``cls``: the envelope (with ``type``) first, then the payload."""
    hints = typing.get_type_hints(cls)
    fields: list[dict[str, Any]] = []
    for field in dataclasses.fields(cls):
        entry: dict[str, Any] = {"name": field.name, "type": avro_type(hints[field.name])}
        default = _default(field)
        if default is not dataclasses.MISSING and field.name not in _ENVELOPE_ORDER:
            entry["default"] = default
        if field.name == "causation_id":
            entry["default"] = None
        fields.append(entry)
    fields.insert(3, {"name": "type", "type": "string"})
    names = [f["name"] for f in fields[:7]]
    assert tuple(names) == _ENVELOPE_ORDER, names
    return {"type": "record", "name": cls.__name__, "namespace": NAMESPACE, "fields": fields}
