"""JWT access and refresh tokens (HS256, ``Settings.jwt_secret``).

- Access tokens are short-lived (``access_ttl_s``) and carry the role: they are checked without a
  store lookup, so a role change or a disabled user takes effect at the next refresh at the latest.
- Refresh tokens rotate: each use returns a new pair, and the used token's ``jti`` is burnt in
  Redis (``refresh_rotation``). A second use of the same refresh token means it was stolen; the
  whole family (``fam``, one per login) is then revoked.
- Decoding pins the algorithm to HS256 (so ``alg=none`` and algorithm confusion fail), requires
  ``exp``/``iat``/``sub``/``typ``/``jti``, checks the issuer, and checks the token type, so a
  refresh token is never accepted as an access token or the other way round.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from pydantic import SecretStr

from api.auth.permissions import Role
from api.errors import AuthNotConfigured, InvalidToken

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True)
class Claims:
    subject: str
    type: TokenType
    jti: str
    expires_at: int
    role: Role | None = None
    family: str | None = None


class TokenService:
    def __init__(
        self, secret: SecretStr | None, issuer: str, access_ttl_s: int, refresh_ttl_s: int
    ) -> None:
        raw = secret.get_secret_value() if secret is not None else ""
        self._key = raw.encode() if len(raw.encode()) >= MIN_SECRET_BYTES else None
        self.issuer, self.access_ttl_s, self.refresh_ttl_s = issuer, access_ttl_s, refresh_ttl_s

    @property
    def configured(self) -> bool:
        return self._key is not None

    def _sign(self, claims: dict[str, Any]) -> str:
        if self._key is None:
            raise AuthNotConfigured(
                f"QLLM_JWT_SECRET is unset or shorter than {MIN_SECRET_BYTES} bytes"
            )
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def issue(self, subject: str, role: Role, family: str | None = None) -> TokenPair:
        now = int(time.time())
        base = {"sub": subject, "iss": self.issuer, "iat": now}
        access = self._sign(
            {
                **base,
                "typ": "access",
                "role": role.value,
                "jti": secrets.token_hex(12),
                "exp": now + self.access_ttl_s,
            }
        )
        refresh = self._sign(
            {
                **base,
                "typ": "refresh",
                "fam": family or secrets.token_hex(12),
                "jti": secrets.token_hex(12),
                "exp": now + self.refresh_ttl_s,
            }
        )
        return TokenPair(access, refresh, self.access_ttl_s, self.refresh_ttl_s)

    def decode(self, token: str, expected: TokenType) -> Claims:
        if self._key is None:
            raise AuthNotConfigured(
                f"QLLM_JWT_SECRET is unset or shorter than {MIN_SECRET_BYTES} bytes"
            )
        try:
            raw = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "typ", "jti", "iss"]},
            )
        except jwt.ExpiredSignatureError as err:
            raise InvalidToken("token expired", details={"reason": "expired"}) from err
        except jwt.InvalidTokenError as err:
            raise InvalidToken("invalid token", details={"reason": type(err).__name__}) from err
        if raw.get("typ") != expected:
            raise InvalidToken(f"not an {expected} token", details={"reason": "wrong_type"})
        try:
            role = Role(raw["role"]) if expected == "access" else None
        except (KeyError, ValueError) as err:
            raise InvalidToken("token names no known role", details={"reason": "role"}) from err
        return Claims(
            str(raw["sub"]), expected, str(raw["jti"]), int(raw["exp"]), role, raw.get("fam")
        )
