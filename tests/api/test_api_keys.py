"""API keys over HTTP: created by an admin, shown once, used, revoked (then 401), listed without
secrets; unknown ids are 404 in the error format; bad keys lock the client address."""

from __future__ import annotations

import pytest

from api.auth.api_keys import digest
from api.auth.cassandra_store import CassandraAuthStore
from api.auth.permissions import Role
from tests.api.conftest import Api

pytestmark = pytest.mark.stack


async def test_key_create_use_revoke_then_401(api: Api) -> None:
    admin = await api.as_admin()
    created = await api.key_with(admin, Role.TRAINER)
    key = {"X-API-Key": created["api_key"]}
    me = await api.client.get("/api/v1/auth/me", headers=key)
    assert me.status_code == 200 and me.json()["role"] == "trainer"
    assert me.json()["key_id"] == created["key_id"]
    revoked = await api.client.delete(f"/api/v1/auth/keys/{created['key_id']}", headers=admin)
    assert revoked.status_code == 204
    after = await api.client.get("/api/v1/auth/me", headers=key)
    assert after.status_code == 401 and after.json()["message"] == "API key revoked"


async def test_key_is_stored_hashed_and_never_shown_again(
    api: Api, cassandra_store: CassandraAuthStore
) -> None:
    admin = await api.as_admin()
    created = await api.key_with(admin)
    stored = await cassandra_store.get_key(created["key_id"])
    assert stored is not None and stored.key_hash == digest(created["api_key"])
    listed = (await api.client.get("/api/v1/auth/keys", headers=admin)).text
    one = (await api.client.get(f"/api/v1/auth/keys/{created['key_id']}", headers=admin)).json()
    assert created["key_id"] in listed and created["api_key"] not in listed
    assert "api_key" not in one and one["revoked_at"] is None


async def test_unknown_key_id_is_404_in_the_error_format(api: Api) -> None:
    admin = await api.as_admin()
    for method in ("GET", "DELETE"):
        response = await api.client.request(
            method, "/api/v1/auth/keys/0123456789abcdef", headers=admin
        )
        body = response.json()
        assert response.status_code == 404, method
        assert body["error"] == "not_found" and body["details"] == {"key_id": "0123456789abcdef"}
        assert body["request_id"] == response.headers["X-Request-ID"]
        assert set(body) == {"error", "message", "details", "request_id", "timestamp"}


async def test_unknown_user_is_404_in_the_error_format(api: Api) -> None:
    response = await api.client.get("/api/v1/auth/users/nobody", headers=await api.as_admin())
    assert response.status_code == 404 and response.json()["details"] == {"username": "nobody"}


async def test_unknown_or_malformed_key_is_401(api: Api) -> None:
    for key in ("nonsense", "qllm_0123456789abcdef_" + "A" * 43):
        response = await api.client.get("/api/v1/auth/me", headers={"X-API-Key": key})
        assert response.status_code == 401 and response.json()["error"] == "invalid_api_key"


async def test_a_key_with_a_forged_secret_is_401(api: Api) -> None:
    created = await api.key_with(await api.as_admin())
    forged = created["api_key"][:-4] + "AAAA"
    response = await api.client.get("/api/v1/auth/me", headers={"X-API-Key": forged})
    assert response.status_code == 401


async def test_repeated_bad_keys_lock_the_address_even_for_a_good_key(api: Api) -> None:
    created = await api.key_with(await api.as_admin())
    for _ in range(3):
        bad = await api.client.get("/api/v1/auth/me", headers={"X-API-Key": "qllm_bad"})
        assert bad.status_code == 401
    locked = await api.client.get("/api/v1/auth/me", headers={"X-API-Key": created["api_key"]})
    assert locked.status_code == 429 and locked.json()["error"] == "locked_out"
    assert int(locked.headers["Retry-After"]) > 0


async def test_unknown_tier_is_422_naming_the_field(api: Api) -> None:
    body = {"name": "k", "role": "user", "tier": "gold"}
    response = await api.client.post("/api/v1/auth/keys", json=body, headers=await api.as_admin())
    assert response.status_code == 422
    assert response.json()["details"]["fields"][0]["field"] == "tier"


async def test_key_owner_is_the_identity_it_acts_for(api: Api) -> None:
    body = {"name": "ci", "role": "trainer", "tier": "standard", "owner": "alice"}
    created = await api.client.post("/api/v1/auth/keys", json=body, headers=await api.as_admin())
    me = await api.client.get("/api/v1/auth/me", headers={"X-API-Key": created.json()["api_key"]})
    assert me.json()["subject"] == "alice" and me.json()["kind"] == "api_key"
