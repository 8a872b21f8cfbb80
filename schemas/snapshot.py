"""JSON snapshots of aggregate states (what the Redis projection stores), and back.

Pure and generic over the state dataclasses: enums as their value, datetimes as ISO-8601.
Per class, the field names and a converter per field are built once (``typing.get_type_hints``
evaluates string annotations: far too slow per call on the projection's path).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

S = TypeVar("S")


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


_NAMES: dict[type, tuple[str, ...]] = {}
_CONVERTERS: dict[type, dict[str, Callable[[Any], Any]]] = {}


def _names(cls: type) -> tuple[str, ...]:
    if cls not in _NAMES:
        _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return _NAMES[cls]


def to_json(state: Any) -> str:
    return json.dumps(
        {name: _plain(getattr(state, name)) for name in _names(type(state))}, sort_keys=True
    )


def _identity(value: Any) -> Any:
    return value


def _converter(hint: Any) -> Callable[[Any], Any]:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if isinstance(base, type) and issubclass(base, Enum):
        return base
    if base is datetime:
        return datetime.fromisoformat
    return _identity


def _converters(cls: type) -> dict[str, Callable[[Any], Any]]:
    if cls not in _CONVERTERS:
        hints = typing.get_type_hints(cls)
        _CONVERTERS[cls] = {name: _converter(hint) for name, hint in hints.items()}
    return _CONVERTERS[cls]


def from_json(cls: type[S], text: str | bytes) -> S:
    """The state a snapshot holds. Keys the class does not know (a field a newer version added,
    written while an older reader still runs: a rolling upgrade) are left out, so the reader
    sees the state as its version knows it."""
    data = json.loads(text)
    convert = _converters(cls)
    return cls(**{n: None if v is None else convert[n](v) for n, v in data.items() if n in convert})
