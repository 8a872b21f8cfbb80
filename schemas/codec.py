"""Single-object Avro encoding of records: ``C3 01`` + fingerprint + schemaless Avro body.

Records are written with the newest version of their schema; data written with an older version
is resolved against the newest one (the writer schema comes from the header's fingerprint). The
newest versions go through encoders and decoders generated for their exact fields
(``schemas.fastpath``: fastavro alone is above the 5 µs per event the backbone allows); older
versions, ``encode_as`` and any schema the generator does not cover go through fastavro's
``schemaless_writer``/``schemaless_reader`` with schemas parsed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from io import BytesIO
from operator import attrgetter
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas import fastpath
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
    fast: fastpath.Decoder | None = None  # the generated decoder of the newest version


class Codec:
    """Encode records to and decode records from single-object Avro bytes."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._writers: dict[type[Record], _Writer] = {}
        self._readers: dict[bytes, _Reader] = {}
        self._fast: dict[type[Record], fastpath.Encoder] = {}
        for name in registry.names():
            cls = record_class(name)
            latest = registry.latest(name)
            writer = self._writers[cls] = self._writer(cls, latest)
            compiled = fastpath.compile_record(latest.schema, cls, writer.header, writer.names)
            if compiled is not None:
                self._fast[cls] = compiled[0]
            for version in registry.versions(name):
                if version is latest:
                    fast = compiled[1] if compiled is not None else None
                    self._readers[version.fingerprint] = _Reader(cls, version.parsed, None, fast)
                else:
                    self._readers[version.fingerprint] = _Reader(cls, version.parsed, latest.parsed)

    @staticmethod
    def _writer(cls: type[Record], version: SchemaVersion) -> _Writer:
        names = tuple(f.name for f in fields(cls))
        values = attrgetter(*names) if len(names) > 1 else lambda r: (getattr(r, names[0]),)
        return _Writer(MAGIC + version.fingerprint, version.parsed, names, values, cls.__name__)

    def encode(self, record: Record) -> bytes:
        fast = self._fast.get(type(record))
        if fast is not None:
            try:
                return fast(record)
            except fastpath.NaiveTimestamp:
                pass  # fastavro's own rule for a datetime without tzinfo
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
            if entry.fast is not None:
                record: Record = entry.fast(data, HEADER_SIZE)
                return record
            datum: Any = schemaless_reader(BytesIO(data[HEADER_SIZE:]), entry.writer, entry.reader)
            name = datum.pop("type")
            if name != entry.cls.__name__:
                raise DecodeError(f"type field {name!r} does not match the schema", data)
            return entry.cls(**datum)
        except fastpath.TypeMismatch as exc:
            raise DecodeError(f"type field {exc.found!r} does not match the schema", data) from exc
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
