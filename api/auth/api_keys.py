"""API keys: ``qllm_<key id>_<secret>``, 256 bits of randomness, stored as SHA-256 only.

A slow KDF is pointless for a high-entropy random key (nobody can guess 2^256) and would cost
every request; SHA-256 of the whole key is the standard. The key id in the clear picks the row,
the hash is compared in constant time. The full key is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "qllm"
_SHAPE = re.compile(r"^qllm_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    key_id: str
    plaintext: str
    key_hash: str


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate() -> NewKey:
    key_id = secrets.token_hex(8)
    plaintext = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id, plaintext, digest(plaintext))


def key_id_of(plaintext: str) -> str | None:
    """The id part of a well-formed key, or None for anything else."""
    match = _SHAPE.match(plaintext)
    return match.group(1) if match else None


def matches(plaintext: str, stored_hash: str) -> bool:
    return hmac.compare_digest(digest(plaintext), stored_hash)
