"""CRC-64-AVRO fingerprints of Parsing Canonical Form, and the single-object header.

The Avro specification (Single-object encoding) defines the header as ``C3 01`` followed by the
8-byte *little-endian* CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing Canonical Form.
The fingerprint is computed here from the specification's algorithm rather than taken from
``fastavro.schema.fingerprint`` (whose hex string leaves the byte order to the reader); the tests
check both against each other and against the specification's test vector for ``"null"``.
"""

from __future__ import annotations

import json
from typing import Any

from fastavro.schema import to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_SIZE = 10
_EMPTY = 0xC15D213AA4D7A795


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _table()


def crc64_avro(data: bytes) -> int:
    """The 64-bit Rabin fingerprint of ``data`` as the Avro specification computes it."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def canonical_form(schema: Any) -> str:
    """Parsing Canonical Form of a schema given as JSON text or as parsed JSON."""
    parsed = json.loads(schema) if isinstance(schema, str) else schema
    return str(to_parsing_canonical_form(parsed))


def fingerprint(schema: Any) -> bytes:
    """The 8 fingerprint bytes of a single-object header (little-endian CRC-64-AVRO)."""
    return crc64_avro(canonical_form(schema).encode()).to_bytes(8, "little")


def header(schema: Any) -> bytes:
    return MAGIC + fingerprint(schema)
