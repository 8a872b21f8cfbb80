"""The generated encoders and decoders (``schemas.fastpath``) against fastavro, the reference.

For every record of the shipped registry, seeded random instances drawn from the record's newest
Avro schema (long and short unicode strings, longs up to the 64-bit bounds, NaN and infinities,
timestamps before 1970 and far in the future, None in unions, empty and full arrays and maps):
the codec must write exactly fastavro's bytes and read back what fastavro reads.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer

from schemas.catalog import record_class
from schemas.codec import default_codec
from schemas.errors import DecodeError
from schemas.fingerprint import HEADER_SIZE, MAGIC
from schemas.records import Record
from schemas.registry import default_registry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAMES = default_registry().names()
TEXTS = ["", "a", "job-1", "ünïcødé ✓ 日本", "x" * 63, "y" * 64, "z" * 300, "\x00\n"]
LONGS = [0, 1, -1, 63, 64, -64, -65, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63)]
DOUBLES = [0.0, -0.0, 1.5, -2.25e-300, 1e308, math.inf, -math.inf, math.nan]
MICROS = [0, -1, 1_795_000_000_123_456, -2_000_000_000_000_000, 230_000_000_000_000_000]


def value(schema: Any, rng: random.Random) -> Any:
    if isinstance(schema, list):
        return None if rng.random() < 0.4 else value(next(s for s in schema if s != "null"), rng)
    if isinstance(schema, dict):
        if schema.get("logicalType") == "timestamp-micros":
            micros = rng.choice(MICROS) if rng.random() < 0.5 else rng.randrange(-(10**16), 10**16)
            return EPOCH + timedelta(microseconds=micros)
        if schema["type"] == "array":
            return [value(schema["items"], rng) for _ in range(rng.choice([0, 1, 3, 70]))]
        if schema["type"] == "map":
            n = rng.choice([0, 1, 4])
            return {rng.choice(TEXTS) + str(i): value(schema["values"], rng) for i in range(n)}
        return value(schema["type"], rng)
    if schema == "string":
        return (
            rng.choice(TEXTS)
            if rng.random() < 0.7
            else "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(0, 90)))
        )
    if schema == "long":
        return rng.choice(LONGS) if rng.random() < 0.5 else rng.randrange(-(2**63), 2**63)
    if schema == "double":
        return rng.choice(DOUBLES) if rng.random() < 0.5 else rng.uniform(-1e9, 1e9)
    if schema == "boolean":
        return rng.random() < 0.5
    raise AssertionError(f"the test has no values for {schema!r}")


def samples(name: str, count: int) -> list[Record]:
    rng = random.Random(f"fastpath:{name}")
    schema = default_registry().latest(name).schema
    fields = [f for f in schema["fields"] if f["name"] != "type"]
    cls = record_class(name)
    return [cls(**{f["name"]: value(f["type"], rng) for f in fields}) for _ in range(count)]


def fastavro_bytes(record: Record) -> bytes:
    latest = default_registry().latest(type(record).__name__)
    datum = {f["name"]: getattr(record, f["name"]) for f in latest.schema["fields"]
             if f["name"] != "type"} | {"type": type(record).__name__}  # fmt: skip
    body = BytesIO()
    schemaless_writer(body, latest.parsed, datum)
    return MAGIC + latest.fingerprint + body.getvalue()


def test_every_record_of_the_registry_has_a_generated_path() -> None:
    codec = default_codec()
    assert all(codec._fast.get(record_class(n)) is not None for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_writes_fastavros_bytes_and_reads_what_fastavro_reads(name: str) -> None:
    codec, latest = default_codec(), default_registry().latest(name)
    for record in samples(name, 40):
        expected = fastavro_bytes(record)
        assert codec.encode(record) == expected
        decoded = codec.decode(expected)
        theirs = schemaless_reader(BytesIO(expected[HEADER_SIZE:]), latest.parsed, None)
        theirs.pop("type")
        ours = {f: getattr(decoded, f) for f in theirs}
        assert repr(ours) == repr(theirs)  # repr: NaN is equal to itself there
        assert type(decoded) is type(record) and codec.encode(decoded) == expected


@pytest.mark.parametrize("name", NAMES[::6])
def test_every_truncation_of_a_body_is_a_decode_error(name: str) -> None:
    codec = default_codec()
    for record in samples(name, 3):
        data = codec.encode(record)
        for end in range(HEADER_SIZE, len(data)):
            with pytest.raises(DecodeError):
                codec.decode(data[:end])


def test_a_naive_timestamp_is_written_by_fastavro() -> None:
    record = samples(NAMES[0], 1)[0]
    naive = type(record)(**{**_fields(record), "occurred_at": datetime(2026, 1, 2, 3, 4, 5)})
    codec = default_codec()
    assert codec.encode(naive) == codec._write(codec._writers[type(naive)], naive)


def test_a_long_out_of_the_64_bit_range_is_refused() -> None:
    record = samples(NAMES[0], 1)[0]
    with pytest.raises(OverflowError):
        default_codec().encode(type(record)(**{**_fields(record), "seq": 2**63}))


def test_a_wrong_type_field_is_a_decode_error_naming_it() -> None:
    first, second = NAMES[0], next(n for n in NAMES[1:] if n != NAMES[0])
    record = samples(first, 1)[0]
    data = bytearray(default_codec().encode(record))
    name = first.encode()
    at = data.index(bytes([len(name) << 1]) + name)
    other = second.encode()
    data[at : at + 1 + len(name)] = bytes([len(other) << 1]) + other
    with pytest.raises(DecodeError, match=f"type field '{second}'"):
        default_codec().decode(bytes(data))


def _fields(record: Record) -> dict[str, Any]:
    return {name: getattr(record, name) for name in type(record).__dataclass_fields__}
