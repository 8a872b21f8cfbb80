"""A small JSON-schema subset: compile it to a tree the decoder walks, and validate instances.

Supported: `type` (object, array, string, integer, number, boolean, null), `properties`,
`required`, `additionalProperties: false` (implied: the decoder never invents keys), `enum`,
`items`, `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum` (validation only).
Anything else raises `SchemaError` naming the keyword, rather than being silently ignored.
The `jsonschema` package is not a dependency; this validator covers exactly the subset.
Defaults keep every output finite: strings ≤ 32 characters, arrays ≤ 8 items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from model.errors import SchemaError

DEFAULT_MAX_LENGTH, DEFAULT_MAX_ITEMS, MAX_NUMBER_CHARS = 32, 8, 16
KNOWN = {
    "type", "properties", "required", "additionalProperties", "enum", "items", "minItems",
    "maxItems", "minLength", "maxLength", "minimum", "maximum", "title", "description", "$schema",
}  # fmt: skip


@dataclass(frozen=True)
class LiteralNode:
    options: tuple[str, ...]  # serialized JSON literals (enum members, true/false, null)


@dataclass(frozen=True)
class StringNode:
    min_length: int
    max_length: int


@dataclass(frozen=True)
class NumberNode:
    integer: bool


@dataclass(frozen=True)
class ObjectNode:
    properties: tuple[tuple[str, Node], ...]
    required: frozenset[str]


@dataclass(frozen=True)
class ArrayNode:
    item: Node
    min_items: int
    max_items: int


Node = LiteralNode | StringNode | NumberNode | ObjectNode | ArrayNode


def compile_schema(schema: dict[str, Any]) -> Node:
    if not isinstance(schema, dict):
        raise SchemaError(f"a schema must be an object, got {schema!r}", schema)
    unknown = sorted(set(schema) - KNOWN)
    if unknown:
        raise SchemaError(f"unsupported schema keyword(s): {', '.join(unknown)}", unknown)
    if "enum" in schema:
        options = schema["enum"]
        if not isinstance(options, list) or not options:
            raise SchemaError(f"enum must be a non-empty list, got {options!r}", options)
        return LiteralNode(tuple(json.dumps(o, separators=(",", ":")) for o in options))
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = frozenset(schema.get("required", []))
        missing = sorted(required - set(props))
        if missing:
            raise SchemaError(f"required names undefined properties: {missing}", missing)
        return ObjectNode(tuple((k, compile_schema(v)) for k, v in props.items()), required)
    if kind == "array":
        lo, hi = schema.get("minItems", 0), schema.get("maxItems", DEFAULT_MAX_ITEMS)
        return ArrayNode(compile_schema(schema.get("items", {"type": "string"})), lo, max(lo, hi))
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength", DEFAULT_MAX_LENGTH)
        return StringNode(lo, max(lo, hi))
    if kind in ("integer", "number"):
        return NumberNode(kind == "integer")
    if kind == "boolean":
        return LiteralNode(("true", "false"))
    if kind == "null":
        return LiteralNode(("null",))
    raise SchemaError(f"unsupported or missing type: {kind!r}", kind)


def validation_errors(instance: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way `instance` violates `schema` (empty when it validates)."""
    if "enum" in schema:
        return [] if instance in schema["enum"] else [f"{path}: {instance!r} not in enum"]
    kind = schema.get("type")
    if not _is_type(instance, kind):
        return [f"{path}: expected {kind}, got {type(instance).__name__}"]
    if kind == "object":
        return _object_errors(instance, schema, path)
    if kind == "array":
        return _array_errors(instance, schema, path)
    if kind == "string":
        n = len(instance)
        ok = schema.get("minLength", 0) <= n <= schema.get("maxLength", n)
        return [] if ok else [f"{path}: length {n} out of bounds"]
    if kind in ("integer", "number"):
        ok = schema.get("minimum", instance) <= instance <= schema.get("maximum", instance)
        return [] if ok else [f"{path}: {instance} out of bounds"]
    return []


def validate(instance: Any, schema: dict[str, Any]) -> None:
    errors = validation_errors(instance, schema)
    if errors:
        raise SchemaError("; ".join(errors), instance)


def _is_type(value: Any, kind: Any) -> bool:
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return kind is None or (kind in checks and checks[kind](value))


def _object_errors(instance: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    props = schema.get("properties", {})
    errors = [f"{path}: missing '{k}'" for k in schema.get("required", []) if k not in instance]
    if schema.get("additionalProperties", True) is False:
        errors += [f"{path}: unexpected '{k}'" for k in instance if k not in props]
    for key, value in instance.items():
        if key in props:
            errors += validation_errors(value, props[key], f"{path}.{key}")
    return errors


def _array_errors(instance: list[Any], schema: dict[str, Any], path: str) -> list[str]:
    n = len(instance)
    errors = []
    if not schema.get("minItems", 0) <= n <= schema.get("maxItems", n):
        errors.append(f"{path}: {n} items out of bounds")
    for i, item in enumerate(instance):
        errors += validation_errors(item, schema.get("items", {}), f"{path}[{i}]")
    return errors
