"""The append-only registry of every schema version, shipped as files, looked up by fingerprint.

Layout: ``schemas/avro/<RecordName>/v<N>.avsc``. Versions are never edited or deleted; a change
to a record adds ``v<N+1>`` (``python -m schemas.registry add``), refused unless all versions stay
FULL_TRANSITIVE compatible. Consumers read any historical event: the header's fingerprint finds
the writer schema, and the newest version of the record is the reader schema.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema

from schemas.catalog import RECORDS
from schemas.compat import check_full_transitive
from schemas.derive import avro_schema
from schemas.errors import UnknownRecord
from schemas.fingerprint import canonical_form, fingerprint

AVRO_DIR = Path(__file__).parent / "avro"


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    schema: dict[str, Any]
    parsed: Any
    fingerprint: bytes


def _version_of(path: Path) -> int:
    return int(path.stem.removeprefix("v"))


def _load_version(path: Path) -> SchemaVersion:
    schema = json.loads(path.read_text())
    parsed = parse_schema(schema, named_schemas={})
    return SchemaVersion(schema["name"], _version_of(path), schema, parsed, fingerprint(schema))


class Registry:
    """Every shipped schema version, by record name and by fingerprint."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_fp = {v.fingerprint: v for v in versions}
        self._by_name: dict[str, list[SchemaVersion]] = {}
        for v in sorted(versions, key=lambda v: (v.name, v.version)):
            self._by_name.setdefault(v.name, []).append(v)

    @classmethod
    def load(cls, root: Path = AVRO_DIR) -> Registry:
        return cls([_load_version(p) for p in sorted(root.glob("*/v*.avsc"))])

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def versions(self, name: str) -> list[SchemaVersion]:
        if name not in self._by_name:
            raise UnknownRecord(name)
        return list(self._by_name[name])

    def latest(self, name: str) -> SchemaVersion:
        return self.versions(name)[-1]

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        return self._by_fp.get(fp)


@cache
def default_registry() -> Registry:
    """The registry shipped with the code (loaded once, on first use, not at import)."""
    return Registry.load()


def add_changed_versions(root: Path = AVRO_DIR) -> list[Path]:
    """Write a new version for every record whose dataclass differs from its newest schema."""
    written = []
    for cls in RECORDS:
        schema = avro_schema(cls)
        folder = root / cls.__name__
        existing = sorted(folder.glob("v*.avsc"), key=_version_of)
        old = [json.loads(p.read_text()) for p in existing]
        if old and canonical_form(old[-1]) == canonical_form(schema):
            continue
        check_full_transitive(cls.__name__, [*old, schema])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"v{len(existing) + 1}.avsc"
        path.write_text(json.dumps(schema, indent=2) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["add"]:
        sys.exit("usage: python -m schemas.registry add")
    for path in add_changed_versions():
        print(f"wrote {path}")
