"""Login, refresh rotation, the bootstrapped admin, 401 for bad tokens and the login lockout,
over HTTP against the real Redis and Cassandra."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from pydantic import SecretStr

from api.auth.permissions import Role
from api.auth.store import MemoryAuthStore
from tests.api.conftest import ADMIN, ADMIN_PASSWORD, JWT_SECRET, Api, MakeApi

pytestmark = pytest.mark.stack


async def test_login_answers_an_access_and_a_refresh_token(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    claims = jwt.decode(
        body["access_token"], JWT_SECRET, algorithms=["HS256"], issuer="qllm-platform"
    )
    assert (claims["sub"], claims["role"], claims["typ"]) == (ADMIN, "admin", "access")
    assert body["refresh_token"] != body["access_token"]


async def test_bootstrapped_admin_sees_its_role_and_permissions(api: Api) -> None:
    me = await api.client.get("/api/v1/auth/me", headers=await api.as_admin())
    assert me.status_code == 200
    assert me.json()["role"] == "admin" and "keys:admin" in me.json()["permissions"]


async def test_wrong_password_and_unknown_user_are_the_same_401(api: Api) -> None:
    wrong = await api.client.post(
        "/api/v1/auth/login", json={"username": ADMIN, "password": "not the password"}
    )
    unknown = await api.client.post(
        "/api/v1/auth/login", json={"username": "ghost", "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"] == "invalid_credentials"
    assert wrong.json()["message"] == unknown.json()["message"]


async def test_no_credentials_is_401_with_www_authenticate(api: Api) -> None:
    response = await api.client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "not_authenticated"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_tokens(good: str) -> dict[str, str]:
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    now = int(time.time())
    expired = {**claims, "iat": now - 100, "exp": now - 10}
    return {
        "tampered": f"{header}.{_b64({**claims, 'sub': 'someone-else'})}.{signature}",
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "expired": jwt.encode(expired, JWT_SECRET, algorithm="HS256"),
        "garbage": "not-a-jwt",
    }


async def test_tampered_expired_and_alg_none_tokens_are_401(api: Api) -> None:
    good = await api.login()
    for name, token in _bad_tokens(good).items():
        response = await api.client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_token", name


async def test_refresh_rotates_and_the_new_pair_works(api: Api) -> None:
    first = (
        await api.client.post(
            "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
        )
    ).json()
    rotated = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200, rotated.text
    pair = rotated.json()
    assert pair["refresh_token"] != first["refresh_token"]
    me = await api.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert me.status_code == 200


async def test_reused_refresh_token_is_401_and_revokes_its_family(api: Api) -> None:
    first = (
        await api.client.post(
            "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
        )
    ).json()
    second = (
        await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
    ).json()
    replay = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401 and replay.json()["details"]["reason"] == "reused"
    after_theft = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert after_theft.status_code == 401
    assert after_theft.json()["details"]["reason"] == "revoked"


async def test_access_token_is_refused_by_refresh(api: Api) -> None:
    access = await api.login()
    response = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": access})
    assert response.status_code == 401


async def test_repeated_bad_logins_lock_the_account_even_for_the_right_password(
    api: Api,
) -> None:
    bad = {"username": ADMIN, "password": "guess guess guess"}
    codes = [(await api.client.post("/api/v1/auth/login", json=bad)).status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    locked = await api.client.post(
        "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["error"] == "locked_out"
    assert 0 < int(locked.headers["Retry-After"]) <= 900


async def test_successful_login_clears_earlier_failures(api: Api) -> None:
    bad = {"username": ADMIN, "password": "guess guess guess"}
    for _ in range(2):
        await api.client.post("/api/v1/auth/login", json=bad)
    await api.login()
    for _ in range(2):
        assert (await api.client.post("/api/v1/auth/login", json=bad)).status_code == 401
    await api.login()


async def test_admin_creates_users_that_can_log_in_with_their_role(api: Api) -> None:
    admin = await api.as_admin()
    headers = await api.user_with_role(Role.TRAINER, admin)
    me = await api.client.get("/api/v1/auth/me", headers=headers)
    assert me.json()["role"] == "trainer"


async def test_existing_username_is_409(api: Api) -> None:
    admin = await api.as_admin()
    body = {"username": ADMIN, "password": "another long passphrase", "role": "user"}
    response = await api.client.post("/api/v1/auth/users", json=body, headers=admin)
    assert response.status_code == 409 and response.json()["details"]["username"] == ADMIN


async def test_without_a_jwt_secret_login_is_503_not_a_crash(
    make_api: MakeApi, api_settings: object
) -> None:
    unset = api_settings.model_copy(update={"jwt_secret": None})  # type: ignore[attr-defined]
    api = await make_api(settings=unset, store=MemoryAuthStore())
    response = await api.client.post(
        "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 503 and response.json()["error"] == "auth_not_configured"


async def test_no_admin_is_bootstrapped_without_a_password(
    make_api: MakeApi, api_config: object
) -> None:
    store = MemoryAuthStore()
    config = api_config.model_copy(update={"admin_password": None})  # type: ignore[attr-defined]
    api = await make_api(config=config, store=store)
    response = await api.client.post(
        "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 401 and await store.get_user(ADMIN) is None


async def test_bootstrap_never_resets_an_existing_admins_password(
    make_api: MakeApi, api_config: object
) -> None:
    store = MemoryAuthStore()
    await (await make_api(store=store)).login()
    other = api_config.model_copy(  # type: ignore[attr-defined]
        update={"admin_password": SecretStr("a different long password")}
    )
    api = await make_api(config=other, store=store)
    await api.login(ADMIN, ADMIN_PASSWORD)


async def test_bad_logins_across_usernames_lock_the_client_address(api: Api) -> None:
    for n in range(6):  # the per-address limit of the test config, spread over usernames
        bad = {"username": f"victim-{n % 3}-{n}", "password": "guess guess guess"}
        assert (await api.client.post("/api/v1/auth/login", json=bad)).status_code == 401
    locked = await api.client.post(
        "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert locked.status_code == 429 and "ip:127.0.0.1" in locked.json()["details"]["locked"]
