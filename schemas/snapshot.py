"""JSON snapshots of aggregate states (what the Redis projection stores), and back.

Pure and generic over the state dataclasses: enums as their value, datetimes as ISO-8601.
"""

from __future__ import annotations

import dataclasses
import json
import typing
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


def to_json(state: Any) -> str:
    fields = dataclasses.fields(state)
    return json.dumps({f.name: _plain(getattr(state, f.name)) for f in fields}, sort_keys=True)


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if isinstance(base, type) and issubclass(base, Enum):
        return base(value)
    if base is datetime:
        return datetime.fromisoformat(value)
    return value


def from_json(cls: type[S], text: str | bytes) -> S:
    data = json.loads(text)
    hints = typing.get_type_hints(cls)
    return cls(**{name: _typed(hints[name], value) for name, value in data.items()})
