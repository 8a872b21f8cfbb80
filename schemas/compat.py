"""Schema compatibility by the Avro specification's resolution rules (FULL_TRANSITIVE).

``read_problems(writer, reader)`` lists why data written with ``writer`` cannot be read with
``reader`` (empty: it can). FULL_TRANSITIVE means every version of a record reads every other
version's data, in both directions, over all pairs — not only neighbours. The tests also resolve
real data with fastavro in both directions, so the rules here are checked against the library.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

from schemas.errors import IncompatibleSchema

_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
_NAMED = {"record", "enum", "fixed"}


def _type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return str(schema["type"]) if isinstance(schema["type"], str) else "union"
    return str(schema)


def _unwrap(schema: Any) -> Any:
    """A ``{"type": "long", "logicalType": ...}`` dict reads like its underlying type."""
    if isinstance(schema, dict) and _type_name(schema) not in _NAMED | {"array", "map"}:
        return schema["type"]
    return schema


def _record(w: dict[str, Any], r: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    written = {field["name"]: field for field in w["fields"]}
    for field in r["fields"]:
        where = f"{path}.{field['name']}"
        if field["name"] in written:
            problems += read_problems(written[field["name"]]["type"], field["type"], where)
        elif "default" not in field:
            problems.append(f"{where}: reader field missing from writer and has no default")
    return problems


def _named(w: dict[str, Any], r: dict[str, Any], kind: str, path: str) -> list[str]:
    if w.get("name") != r.get("name") and w.get("name") not in r.get("aliases", ()):
        return [f"{path}: {kind} name {w.get('name')} != {r.get('name')}"]
    if kind == "record":
        return _record(w, r, path)
    if kind == "enum":
        missing = set(w["symbols"]) - set(r["symbols"])
        if missing and "default" not in r:
            return [f"{path}: enum symbols {sorted(missing)} unknown to the reader"]
        return []
    return [] if w["size"] == r["size"] else [f"{path}: fixed size {w['size']} != {r['size']}"]


def read_problems(writer: Any, reader: Any, path: str = "$") -> list[str]:
    """Why ``reader`` cannot read data written with ``writer`` (empty list: it can)."""
    writer, reader = _unwrap(writer), _unwrap(reader)
    w_kind, r_kind = _type_name(writer), _type_name(reader)
    if w_kind == "union":
        return [p for branch in writer for p in read_problems(branch, reader, path)]
    if r_kind == "union":
        if any(not read_problems(writer, branch, path) for branch in reader):
            return []
        return [f"{path}: no branch of the reader union reads writer type {w_kind}"]
    if w_kind != r_kind:
        if r_kind in _PROMOTIONS.get(w_kind, set()):
            return []
        return [f"{path}: writer type {w_kind} cannot be read as {r_kind}"]
    if w_kind in _NAMED:
        return _named(writer, reader, w_kind, path)
    if w_kind == "array":
        return read_problems(writer["items"], reader["items"], f"{path}[]")
    if w_kind == "map":
        return read_problems(writer["values"], reader["values"], f"{path}{{}}")
    return []


def full_transitive_problems(versions: list[Any]) -> list[str]:
    """Problems over every ordered pair of versions (v_i written, v_j reading), i != j."""
    problems: list[str] = []
    for (i, writer), (j, reader) in permutations(enumerate(versions, start=1), 2):
        problems += [f"v{i}→v{j} {p}" for p in read_problems(writer, reader)]
    return problems


def check_full_transitive(name: str, versions: list[Any]) -> None:
    """Raise ``IncompatibleSchema`` unless every version reads every other."""
    problems = full_transitive_problems(versions)
    if problems:
        raise IncompatibleSchema(name, problems)
