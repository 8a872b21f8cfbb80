"""Structured output: constrained decoding always yields JSON that validates against the schema."""

from __future__ import annotations

import json

import pytest
import torch

from model import (
    GenerationConfig,
    GenerationEngine,
    ModelConfig,
    SchemaError,
    Tokenizer,
    build_model,
)
from model.extensions.json_schema import compile_schema, validate, validation_errors
from model.extensions.structured import Stack, Value, can_finish, feed

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer"},
        "score": {"type": "number"},
        "admin": {"type": "boolean"},
        "tags": {"type": "array", "items": {"enum": ["a", "bb", 3]}, "maxItems": 3},
        "role": {"type": "string", "enum": ["user", "owner"]},
    },
    "required": ["name", "age", "role"],
    "additionalProperties": False,
}


def _accepts(schema: dict, text: str) -> bool:
    state: Stack = (Value(compile_schema(schema)),)
    for ch in text:
        nxt = feed(state, ch)
        if nxt is None:
            return False
        state = nxt
    return can_finish(state)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sampled_output_always_validates(
    tiny: ModelConfig, tokenizer: Tokenizer, seed: int
) -> None:
    torch.manual_seed(seed)
    engine = GenerationEngine(build_model(tiny), tokenizer)
    text, value = engine.generate_json(
        "Person:", PERSON, GenerationConfig(temperature=1.0, seed=seed)
    )
    assert json.loads(text) == value
    assert validation_errors(value, PERSON) == []


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer"},
        {"type": "array", "items": {"type": "boolean"}, "minItems": 2},
        {"enum": ["x", "y"]},
    ],
)
def test_greedy_output_validates_for_other_shapes(
    tiny: ModelConfig, tokenizer: Tokenizer, schema: dict
) -> None:
    engine = GenerationEngine(build_model(tiny), tokenizer)
    _, value = engine.generate_json("Value:", schema)
    assert validation_errors(value, schema) == []


@pytest.mark.parametrize(
    "text",
    [
        '{"name":"ann","age":3,"role":"user"}',
        '{"name":"","age":-12,"score":0.5,"tags":["bb",3],"role":"owner"}',
    ],
)
def test_the_automaton_accepts_valid_documents(text: str) -> None:
    assert _accepts(PERSON, text)
    validate(json.loads(text), PERSON)


@pytest.mark.parametrize(
    "text",
    [
        '{"age":3,"name":"ann","role":"user"}',  # keys out of schema order
        '{"name":"ann","role":"user"}',  # missing required key
        '{"name":"ann","age":3.5,"role":"user"}',  # integer with a fraction
        '{"name":"ann","age":3,"role":"admin"}',  # not in enum
        '{"name":"ann","age":3,"role":"user","x":1}',  # unknown key
        '{"name":"ann","age":03,"role":"user"}',  # leading zero
    ],
)
def test_the_automaton_rejects_invalid_documents(text: str) -> None:
    assert not _accepts(PERSON, text)


def test_validator_reports_each_violation() -> None:
    errors = validation_errors({"name": 5, "age": True, "extra": 1}, PERSON)
    assert any("$.name" in e for e in errors) and any("$.age" in e for e in errors)
    assert any("role" in e for e in errors) and any("extra" in e for e in errors)
    with pytest.raises(SchemaError):
        validate({"name": 5}, PERSON)


def test_unsupported_schema_keywords_are_refused() -> None:
    with pytest.raises(SchemaError, match="pattern"):
        compile_schema({"type": "string", "pattern": "a+"})
