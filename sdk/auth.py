"""Credentials: an API key, or a JWT pair that the clients refresh before it goes stale.

Both are values; the clients decide when to refresh (``Tokens.stale``) and swap in the new pair
(``Tokens.from_body``), and hand it to ``on_tokens`` so a caller (the CLI) can store it.
Expiry is kept as an absolute wall-clock time so a pair read back from disk knows its age.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

REFRESH_MARGIN_S = 30.0


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    api_key: str

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float
    refresh_expires_at: float

    @classmethod
    def from_body(cls, body: dict[str, Any], now: float | None = None) -> Tokens:
        """From the body of ``/auth/login`` or ``/auth/refresh`` (``expires_in`` in seconds)."""
        now = time.time() if now is None else now
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]),
            expires_at=now + float(body["expires_in"]),
            refresh_expires_at=now + float(body["refresh_expires_in"]),
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def stale(self, now: float | None = None, margin_s: float = REFRESH_MARGIN_S) -> bool:
        """The access token expires within ``margin_s``: refresh before using it."""
        return (time.time() if now is None else now) >= self.expires_at - margin_s

    def refreshable(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.refresh_expires_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Auth = ApiKeyAuth | Tokens
