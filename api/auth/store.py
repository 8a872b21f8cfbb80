"""Where users and API keys are kept: the ``AuthStore`` contract and its in-memory backend.

The Cassandra backend (``cassandra_store``) passes the same contract suite
(``tests/api/test_auth_store.py``). Records are frozen; the store hands back new ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from api.auth.permissions import Role


def utc_now() -> datetime:
    """Now, to the millisecond: the precision Cassandra keeps, so a round trip compares equal."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str
    role: Role
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    key_hash: str
    name: str
    role: Role
    tier: str
    owner: str  # the identity whose resources this key manages
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class AuthStore(Protocol):
    async def get_user(self, username: str) -> User | None: ...

    async def create_user(self, user: User) -> bool:
        """Insert unless the username exists; True when this call created it."""
        ...

    async def put_key(self, key: ApiKeyRecord) -> None: ...

    async def get_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_keys(self) -> list[ApiKeyRecord]: ...

    async def revoke_key(self, key_id: str, at: datetime) -> ApiKeyRecord | None:
        """Mark revoked (idempotent; the first revocation time stays); None if unknown."""
        ...

    async def close(self) -> None: ...


class MemoryAuthStore:
    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._keys: dict[str, ApiKeyRecord] = {}

    async def get_user(self, username: str) -> User | None:
        return self._users.get(username)

    async def create_user(self, user: User) -> bool:
        if user.username in self._users:
            return False
        self._users[user.username] = user
        return True

    async def put_key(self, key: ApiKeyRecord) -> None:
        self._keys[key.key_id] = key

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        return self._keys.get(key_id)

    async def list_keys(self) -> list[ApiKeyRecord]:
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    async def revoke_key(self, key_id: str, at: datetime) -> ApiKeyRecord | None:
        key = self._keys.get(key_id)
        if key is None or key.revoked:
            return key
        self._keys[key_id] = replace(key, revoked_at=at)
        return self._keys[key_id]

    async def close(self) -> None:
        return None
