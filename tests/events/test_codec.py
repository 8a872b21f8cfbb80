"""The single-object codec and the shipped schema registry."""

from __future__ import annotations

import json
from collections.abc import Callable

import fastavro.schema
import pytest

from schemas import jobs
from schemas.catalog import RECORDS
from schemas.codec import Codec, default_codec
from schemas.derive import avro_schema
from schemas.errors import DecodeError, UnknownFingerprint, UnknownRecord
from schemas.fingerprint import canonical_form, crc64_avro, fingerprint
from schemas.records import Record
from schemas.registry import AVRO_DIR, Registry, default_registry


def test_crc64_avro_matches_the_specification_test_vector_for_null() -> None:
    # avro/share/test/data/schema-tests.txt: "null" has fingerprint 7195948357588979594
    assert crc64_avro(b'"null"') == 7195948357588979594


@pytest.mark.parametrize("cls", RECORDS[:5], ids=lambda c: c.__name__)
def test_fingerprint_bytes_are_fastavros_crc64_in_little_endian(cls: type[Record]) -> None:
    schema = avro_schema(cls)
    ours = fingerprint(schema)
    theirs = fastavro.schema.fingerprint(canonical_form(schema), "CRC-64-AVRO")
    assert ours == bytes.fromhex(theirs)
    assert ours == crc64_avro(canonical_form(schema).encode()).to_bytes(8, "little")


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_every_record_round_trips_with_header_of_its_newest_schema(
    cls: type[Record], make_sample: Callable[..., Record]
) -> None:
    record = make_sample(cls)
    data = default_codec().encode(record)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == default_registry().latest(cls.__name__).fingerprint
    assert default_codec().decode(data) == record


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_newest_shipped_schema_matches_the_dataclass(cls: type[Record]) -> None:
    shipped = default_registry().latest(cls.__name__).schema
    assert canonical_form(shipped) == canonical_form(avro_schema(cls))


def test_registry_ships_every_record_and_no_stray_schema() -> None:
    assert default_registry().names() == sorted(cls.__name__ for cls in RECORDS)


def test_shipped_versions_are_numbered_without_holes() -> None:
    for folder in AVRO_DIR.iterdir():
        numbers = sorted(int(p.stem[1:]) for p in folder.glob("v*.avsc"))
        assert numbers == list(range(1, len(numbers) + 1)), folder.name


def test_event_written_with_an_old_version_decodes_with_the_new_fields_default(
    make_sample: Callable[..., Record],
) -> None:
    step = make_sample(jobs.TrainingStepCompleted, tokens_per_s=1234.5)
    old = default_codec().encode_as(step, version=1)
    assert old[2:10] == default_registry().versions("TrainingStepCompleted")[0].fingerprint
    decoded = default_codec().decode(old)
    assert isinstance(decoded, jobs.TrainingStepCompleted)
    assert decoded.tokens_per_s is None and decoded.loss == step.loss


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", DecodeError),
        (b'{"json": true}', DecodeError),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", UnknownFingerprint),
    ],
    ids=["empty", "json", "unknown-fingerprint"],
)
def test_bytes_that_are_not_a_known_record_raise_decode_error(data: bytes, error: type) -> None:
    with pytest.raises(error) as raised:
        default_codec().decode(data)
    assert raised.value.data == data


def test_a_message_without_a_value_is_a_decode_error_not_a_type_error() -> None:
    # regression: a tombstone (value None) raised TypeError and crashed the stream agent
    with pytest.raises(DecodeError, match="empty message"):
        default_codec().decode(None)


def test_truncated_body_raises_decode_error(make_sample: Callable[..., Record]) -> None:
    data = default_codec().encode(make_sample(jobs.JobSubmitted))
    with pytest.raises(DecodeError):
        default_codec().decode(data[:-5])


def test_codec_over_a_registry_without_a_record_refuses_to_encode_it(
    tmp_path: object, make_sample: Callable[..., Record]
) -> None:
    codec = Codec(Registry([default_registry().latest("JobFailed")]))
    assert codec.decode(codec.encode(make_sample(jobs.JobFailed))) == make_sample(jobs.JobFailed)
    with pytest.raises(UnknownRecord):
        codec.encode(make_sample(jobs.JobPaused))


def test_shipped_schema_files_are_plain_json_with_the_envelope_first() -> None:
    for path in AVRO_DIR.glob("*/v*.avsc"):
        names = [f["name"] for f in json.loads(path.read_text())["fields"]][:7]
        assert names == [
            "event_id", "stream_id", "seq", "type", "occurred_at", "causation_id", "actor",
        ], path  # fmt: skip
