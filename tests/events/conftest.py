"""Fixtures of the event-backbone tests: sample records and per-test settings on the real stack."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.records import Record

_SAMPLES: dict[Any, Any] = {
    str: "text-é",
    int: 7,
    float: 0.25,
    bool: True,
    datetime: datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    dict[str, float]: {"alpha": 0.5},
    dict[str, str]: {"memory_slots": "64"},
    list[float]: [0.5, -0.25],
    list[str]: ["a", "b"],
    list[list[float]]: [[0.5], [0.25, -1.0]],
    list[dict[str, str]]: [{"role": "user", "content": "hi"}],
}


def sample_record(cls: type[Record], **overrides: Any) -> Record:
    """An instance of ``cls`` with every field filled (optional fields too)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        values[field.name] = _SAMPLES[hint] if hint in _SAMPLES else _SAMPLES[args[0]]
    values.update(seq=3, event_id="0b6c6f0e-0f0a-4c1e-8d5b-2f0c9d1e5a77")
    values.update(overrides)
    return cls(**values)


@pytest.fixture
def make_sample() -> Callable[..., Record]:
    return sample_record
