"""FULL_TRANSITIVE schema evolution: the rules, cross-checked by resolving data with fastavro."""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.compat import check_full_transitive, full_transitive_problems, read_problems
from schemas.errors import IncompatibleSchema
from schemas.registry import default_registry

V1: dict[str, Any] = {
    "type": "record",
    "name": "Thing",
    "namespace": "qllm",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "size", "type": "long"},
    ],
}


def _with_fields(*fields: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    schema = copy.deepcopy(V1)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != drop] + list(fields)
    return schema


def _fastavro_reads(writer: dict[str, Any], reader: dict[str, Any], datum: dict[str, Any]) -> bool:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(writer, named_schemas={}), datum)
    buffer.seek(0)
    try:
        schemaless_reader(
            buffer, parse_schema(writer, named_schemas={}), parse_schema(reader, named_schemas={})
        )
    except Exception:
        return False
    return True


def test_every_shipped_record_is_full_transitive_compatible() -> None:
    registry = default_registry()
    for name in registry.names():
        check_full_transitive(name, [v.schema for v in registry.versions(name)])


def test_adding_a_field_with_a_default_passes_the_check() -> None:
    v2 = _with_fields({"name": "colour", "type": ["null", "string"], "default": None})
    assert full_transitive_problems([V1, v2]) == []
    assert _fastavro_reads(V1, v2, {"id": "a", "size": 1})
    assert _fastavro_reads(v2, V1, {"id": "a", "size": 1, "colour": "red"})


def test_removing_a_field_without_a_default_fails_the_check() -> None:
    v2 = _with_fields(drop="size")
    with pytest.raises(IncompatibleSchema) as raised:
        check_full_transitive("Thing", [V1, v2])
    assert any("v2→v1" in p and "size" in p for p in raised.value.problems)
    assert _fastavro_reads(V1, v2, {"id": "a", "size": 1})  # new readers ignore the old field
    assert not _fastavro_reads(v2, V1, {"id": "a"})  # old readers cannot fill it in


def test_adding_a_field_without_a_default_fails_the_check() -> None:
    v2 = _with_fields({"name": "colour", "type": "string"})
    assert full_transitive_problems([V1, v2])
    assert not _fastavro_reads(V1, v2, {"id": "a", "size": 1})


def test_check_is_transitive_over_non_neighbouring_versions() -> None:
    v2 = _with_fields({"name": "colour", "type": "string", "default": "red"})
    v3 = _with_fields({"name": "colour", "type": "string"})  # default dropped in v3
    assert full_transitive_problems([V1, v2]) == []
    problems = full_transitive_problems([V1, v2, v3])
    assert any(p.startswith("v1→v3") for p in problems)


def test_changing_a_field_type_fails_unless_it_is_a_promotion_both_ways() -> None:
    as_double = _with_fields({"name": "size", "type": "double"}, drop="size")
    assert read_problems(V1, as_double) == []  # long promotes to double
    assert read_problems(as_double, V1)  # double does not demote to long
    assert _fastavro_reads(V1, as_double, {"id": "a", "size": 1})
    assert not _fastavro_reads(as_double, V1, {"id": "a", "size": 1.5})


def test_enum_symbols_must_be_known_to_the_reader_unless_it_has_a_default() -> None:
    small = {"type": "enum", "name": "E", "symbols": ["A"]}
    large = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
    assert read_problems(small, large) == []
    assert read_problems(large, small)
    assert read_problems(large, {**small, "default": "A"}) == []


def test_union_reader_reads_any_writer_branch_it_contains() -> None:
    assert read_problems("string", ["null", "string"]) == []
    assert read_problems(["null", "string"], "string")
    assert (
        read_problems({"type": "array", "items": "int"}, {"type": "array", "items": "long"}) == []
    )
