"""The AuthStore contract, passed by the in-memory store and by Cassandra alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from api.auth.cassandra_store import CassandraAuthStore
from api.auth.permissions import Role
from api.auth.store import ApiKeyRecord, AuthStore, MemoryAuthStore, User, utc_now
from api.errors import ServiceUnavailable

pytestmark = pytest.mark.stack


@pytest.fixture(params=["memory", "cassandra"])
def store(request: pytest.FixtureRequest) -> AuthStore:
    if request.param == "memory":
        return MemoryAuthStore()
    cassandra: AuthStore = request.getfixturevalue("cassandra_store")
    return cassandra


def _user(name: str) -> User:
    return User(name, "scrypt$hash", Role.TRAINER, utc_now())


def _key(key_id: str) -> ApiKeyRecord:
    return ApiKeyRecord(key_id, "ab" * 32, "ci", Role.USER, "standard", "alice", "root", utc_now())


async def test_created_user_reads_back_equal(store: AuthStore, unique: str) -> None:
    user = _user(f"alice-{unique}")
    assert await store.create_user(user) is True
    assert await store.get_user(user.username) == user


async def test_creating_an_existing_user_changes_nothing(store: AuthStore, unique: str) -> None:
    user = _user(f"alice-{unique}")
    await store.create_user(user)
    assert await store.create_user(replace(user, role=Role.ADMIN)) is False
    assert (await store.get_user(user.username)) == user


async def test_unknown_user_and_key_are_none(store: AuthStore, unique: str) -> None:
    assert await store.get_user(f"nobody-{unique}") is None
    assert await store.get_key(f"nokey-{unique}") is None
    assert await store.revoke_key(f"nokey-{unique}", utc_now()) is None


async def test_key_reads_back_and_is_listed(store: AuthStore, unique: str) -> None:
    key = _key(unique)
    await store.put_key(key)
    assert await store.get_key(unique) == key
    assert key in await store.list_keys()


async def test_revocation_is_recorded_once(store: AuthStore, unique: str) -> None:
    await store.put_key(_key(unique))
    first = utc_now()
    revoked = await store.revoke_key(unique, first)
    again = await store.revoke_key(unique, first + timedelta(seconds=5))
    assert revoked is not None and revoked.revoked and revoked.revoked_at == first
    assert again is not None and again.revoked_at == first


async def test_unreachable_cassandra_is_service_unavailable_not_a_hang() -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        await CassandraAuthStore.open("127.0.0.1:1", "nowhere", timeout_s=1.0)
    assert caught.value.service == "cassandra"
