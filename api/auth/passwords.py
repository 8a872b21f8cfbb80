"""Password hashing with the standard library's scrypt (a memory-hard KDF).

Stored form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so parameters can be raised later
without invalidating old hashes. Hashing costs ~16 MiB and tens of milliseconds on purpose; the
async wrappers run it in a thread so the event loop never waits on it. An unknown user is checked
against a dummy hash so the answer takes as long as for a known one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from functools import cache

N, R, P, DKLEN = 2**14, 8, 1, 32


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, n: int = N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=R, p=P, dklen=DKLEN)
    return f"scrypt${n}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(base64.b64decode(expected)),
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


@cache
def _dummy() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, stored: str | None) -> bool:
    """``stored`` None (no such user) still spends the same work, then answers False."""
    ok = await asyncio.to_thread(verify_password, password, stored or _dummy())
    return ok and stored is not None
