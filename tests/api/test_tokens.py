"""Tokens, passwords and key material as pure functions: what is accepted and what is refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from api.auth import api_keys
from api.auth.passwords import hash_password, verify_password
from api.auth.permissions import Role
from api.auth.tokens import TokenService
from api.config import ApiConfig
from api.errors import AuthNotConfigured, InvalidToken

SECRET = "s" * 40


def _service(ttl: int = 900) -> TokenService:
    return TokenService(SecretStr(SECRET), "qllm-platform", ttl, 3600)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_access_token_round_trips_subject_and_role() -> None:
    pair = _service().issue("alice", Role.TRAINER)
    claims = _service().decode(pair.access_token, "access")
    assert (claims.subject, claims.role, claims.type) == ("alice", Role.TRAINER, "access")


def test_refresh_token_is_not_accepted_as_access_token() -> None:
    pair = _service().issue("alice", Role.USER)
    with pytest.raises(InvalidToken, match="not an access token"):
        _service().decode(pair.refresh_token, "access")


def test_access_token_is_not_accepted_as_refresh_token() -> None:
    pair = _service().issue("alice", Role.USER)
    with pytest.raises(InvalidToken):
        _service().decode(pair.access_token, "refresh")


def test_tampered_payload_is_refused() -> None:
    header, payload, signature = _service().issue("alice", Role.USER).access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = ".".join([header, _b64({**claims, "role": "admin"}), signature])
    with pytest.raises(InvalidToken) as caught:
        _service().decode(forged, "access")
    assert caught.value.details["reason"] == "InvalidSignatureError"


def test_alg_none_token_is_refused() -> None:
    now = int(time.time())
    claims = {
        "sub": "alice",
        "role": "admin",
        "typ": "access",
        "jti": "x",
        "iat": now,
        "exp": now + 60,
        "iss": "qllm-platform",
    }
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(InvalidToken):
        _service().decode(unsigned, "access")


def test_token_signed_with_another_key_is_refused() -> None:
    other = TokenService(SecretStr("o" * 40), "qllm-platform", 900, 3600)
    with pytest.raises(InvalidToken):
        _service().decode(other.issue("alice", Role.ADMIN).access_token, "access")


def test_expired_token_is_refused_as_expired() -> None:
    now = int(time.time())
    claims = {
        "sub": "alice",
        "role": "user",
        "typ": "access",
        "jti": "x",
        "iat": now - 120,
        "exp": now - 60,
        "iss": "qllm-platform",
    }
    with pytest.raises(InvalidToken) as caught:
        _service().decode(jwt.encode(claims, SECRET, algorithm="HS256"), "access")
    assert caught.value.details["reason"] == "expired"


def test_token_without_required_claims_is_refused() -> None:
    token = jwt.encode({"sub": "alice", "typ": "access"}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken):
        _service().decode(token, "access")


def test_short_or_missing_secret_disables_token_issuance() -> None:
    for secret in (None, SecretStr("short")):
        service = TokenService(secret, "qllm-platform", 900, 3600)
        assert not service.configured
        with pytest.raises(AuthNotConfigured):
            service.issue("alice", Role.USER)


def test_password_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("a long passphrase", n=2**10)
    assert stored.startswith("scrypt$1024$")
    assert verify_password("a long passphrase", stored)
    assert not verify_password("a long passphrasE", stored)
    assert not verify_password("a long passphrase", "garbage")


def test_api_key_is_stored_as_its_sha256_and_parses_its_id() -> None:
    key = api_keys.generate()
    assert key.key_hash == api_keys.digest(key.plaintext) and key.plaintext not in key.key_hash
    assert api_keys.key_id_of(key.plaintext) == key.key_id
    assert api_keys.matches(key.plaintext, key.key_hash)
    assert not api_keys.matches(key.plaintext + "x", key.key_hash)
    assert api_keys.key_id_of("qllm_nothex_" + "a" * 43) is None


@pytest.mark.parametrize("password", ["changeme", "password", "short"])
def test_config_refuses_placeholder_or_short_admin_password(password: str) -> None:
    with pytest.raises(ValidationError, match="ADMIN_PASSWORD"):
        ApiConfig(admin_password=SecretStr(password))


def test_config_refuses_a_user_tier_that_does_not_exist() -> None:
    with pytest.raises(ValidationError, match="user_rate_tier"):
        ApiConfig(user_rate_tier="gold")
