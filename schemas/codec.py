"""Single-object Avro encoding of records: ``C3 01`` + fingerprint + schemaless Avro body.

The fast path is fastavro's ``schemaless_writer``/``schemaless_reader`` with schemas parsed once.
Records are written with the newest version of their schema; data written with an older version
is resolved against the newest one (the writer schema comes from the header's fingerprint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from io import BytesIO
from operator import attrgetter
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.catalog import record_class
from schemas.errors import DecodeError, UnknownFingerprint, UnknownRecord
from schemas.fingerprint import HEADER_SIZE, MAGIC
from schemas.records import Record
from schemas.registry import Registry, SchemaVersion, default_registry


@dataclass(frozen=True)
class _Writer:
    header: bytes
    parsed: Any
    names: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]  # the record's field values in ``names`` order
    type: str


@dataclass(frozen=True)
class _Reader:
    cls: type[Record]
    writer: Any
    reader: Any  # None when the writer is the newest version


class Codec:
    """Encode records to and decode records from single-object Avro bytes."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._writers: dict[type[Record], _Writer] = {}
        self._readers: dict[bytes, _Reader] = {}
        for name in registry.names():
            cls = record_class(name)
            latest = registry.latest(name)
            self._writers[cls] = self._writer(cls, latest)
            for version in registry.versions(name):
                reader = None if version is latest else latest.parsed
                self._readers[version.fingerprint] = _Reader(cls, version.parsed, reader)

    @staticmethod
    def _writer(cls: type[Record], version: SchemaVersion) -> _Writer:
        names = tuple(f.name for f in fields(cls))
        values = attrgetter(*names) if len(names) > 1 else lambda r: (getattr(r, names[0]),)
        return _Writer(MAGIC + version.fingerprint, version.parsed, names, values, cls.__name__)

    def encode(self, record: Record) -> bytes:
        writer = self._writers.get(type(record))
        if writer is None:
            raise UnknownRecord(type(record).__name__)
        return self._write(writer, record)

    def encode_as(self, record: Record, version: int) -> bytes:
        """Encode with an older schema version (how a producer of that era wrote it)."""
        schema = self._registry.versions(type(record).__name__)[version - 1]
        return self._write(self._writer(type(record), schema), record)

    @staticmethod
    def _write(writer: _Writer, record: Record) -> bytes:
        datum = dict(zip(writer.names, writer.values(record), strict=True))
        datum["type"] = writer.type
        buffer = BytesIO()
        schemaless_writer(buffer, writer.parsed, datum)
        return writer.header + buffer.getvalue()

    def decode(self, data: bytes | None) -> Record:
        """The record in ``data``; ``DecodeError`` for anything that is not one.

        ``None`` (a Kafka message with no value, e.g. a tombstone) is a ``DecodeError`` too, so
        every consumer dead-letters it like any other undecodable message.
        """
        if data is None:
            raise DecodeError("empty message (no value)", b"")
        if data[:2] != MAGIC or len(data) < HEADER_SIZE:
            raise DecodeError("not single-object Avro (bad magic or short header)", data)
        entry = self._readers.get(data[2:HEADER_SIZE])
        if entry is None:
            raise UnknownFingerprint(data[2:HEADER_SIZE], data)
        try:
            datum: Any = schemaless_reader(BytesIO(data[HEADER_SIZE:]), entry.writer, entry.reader)
            name = datum.pop("type")
            if name != entry.cls.__name__:
                raise DecodeError(f"type field {name!r} does not match the schema", data)
            return entry.cls(**datum)
        except DecodeError:
            raise
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeError, …
            raise DecodeError(f"corrupt body: {exc!r}", data) from exc


_DEFAULT: list[Codec] = []


def default_codec() -> Codec:
    """The codec over the shipped registry (built once, on first use)."""
    if not _DEFAULT:
        _DEFAULT.append(Codec(default_registry()))
    return _DEFAULT[0]
