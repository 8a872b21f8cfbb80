"""Users and API keys in Cassandra: two small tables in the auth keyspace.

- Driver calls use ``execute_async`` bridged to asyncio with a bounded timeout; connecting and
  creating the tables run in a thread. The event loop never blocks on Cassandra.
- Any driver failure (no host, timeout, unavailable) becomes ``ServiceUnavailable("cassandra")``:
  the API answers 503 with Retry-After instead of hanging.
- ``create_user`` is a lightweight transaction (``IF NOT EXISTS``), so two replicas bootstrapping
  the first admin at once cannot overwrite each other.
- Listing keys scans ``api_keys``; fine for the tens-to-thousands of keys an operator manages.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from api.auth.permissions import Role
from api.auth.store import ApiKeyRecord, User
from api.errors import ServiceUnavailable
from streams.store.driver import cached_named_tuple_factory

_TABLES = (
    "CREATE TABLE IF NOT EXISTS {ks}.api_users (username text PRIMARY KEY, password_hash text, "
    "role text, disabled boolean, created_at timestamp)",
    "CREATE TABLE IF NOT EXISTS {ks}.api_keys (key_id text PRIMARY KEY, key_hash text, name text, "
    "role text, tier text, owner text, created_by text, created_at timestamp, "
    "revoked_at timestamp)",
)
_KEY_COLUMNS = "key_id, key_hash, name, role, tier, owner, created_by, created_at, revoked_at"


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        row.key_id,
        row.key_hash,
        row.name,
        Role(row.role),
        row.tier,
        row.owner,
        row.created_by,
        _utc(row.created_at) or datetime.now(UTC),
        _utc(row.revoked_at),
    )


class CassandraAuthStore:
    """Open with ``await CassandraAuthStore.open(contact, keyspace)``; ``await close()`` it."""

    def __init__(self, cluster: Cluster, session: Session, keyspace: str, timeout_s: float) -> None:
        self._cluster, self._session, self._timeout = cluster, session, timeout_s
        ks, prepare = keyspace, session.prepare
        self._get_user = prepare(f"SELECT * FROM {ks}.api_users WHERE username = ?")
        self._new_user = prepare(
            f"INSERT INTO {ks}.api_users (username, password_hash, role, disabled, created_at) "
            "VALUES (?, ?, ?, ?, ?) IF NOT EXISTS"
        )
        self._put_key = prepare(
            f"INSERT INTO {ks}.api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._get_key = prepare(f"SELECT {_KEY_COLUMNS} FROM {ks}.api_keys WHERE key_id = ?")
        self._all_keys = prepare(f"SELECT {_KEY_COLUMNS} FROM {ks}.api_keys")
        self._revoke = prepare(
            f"UPDATE {ks}.api_keys SET revoked_at = ? WHERE key_id = ? IF revoked_at = null"
        )

    @classmethod
    async def open(
        cls, contact: str, keyspace: str, *, replication: int = 1, timeout_s: float = 2.0
    ) -> CassandraAuthStore:
        host, _, port = contact.rpartition(":")

        def connect() -> CassandraAuthStore:
            cluster = Cluster(
                [host],
                port=int(port),
                protocol_version=5,
                execution_profiles={
                    EXEC_PROFILE_DEFAULT: ExecutionProfile(
                        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
                        request_timeout=timeout_s,
                        row_factory=cached_named_tuple_factory,
                    )
                },
                connect_timeout=timeout_s,
                control_connection_timeout=timeout_s,
            )
            try:
                session = cluster.connect()
                session.execute(
                    f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
                    f"{{'class': 'SimpleStrategy', 'replication_factor': {replication}}}",
                    timeout=30,
                )
                for ddl in _TABLES:
                    session.execute(ddl.format(ks=keyspace), timeout=30)
                return cls(cluster, session, keyspace, timeout_s)
            except Exception:
                cluster.shutdown()
                raise

        try:
            return await asyncio.to_thread(connect)
        except Exception as err:
            raise ServiceUnavailable("cassandra", f"{type(err).__name__}: {err}") from err

    async def close(self) -> None:
        await asyncio.to_thread(self._cluster.shutdown)

    async def _run(self, statement: Any, params: tuple[Any, ...]) -> list[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()

        def settle(rows: list[Any] | None, err: BaseException | None) -> None:
            if done.done():
                return
            if err is not None:
                done.set_exception(err)
            else:
                done.set_result(list(rows or ()))

        try:
            future = self._session.execute_async(statement, params, timeout=self._timeout)
            future.add_callbacks(
                lambda rows: loop.call_soon_threadsafe(settle, rows, None),
                lambda err: loop.call_soon_threadsafe(settle, None, err),
            )
            return await asyncio.wait_for(done, self._timeout + 0.5)
        except Exception as err:
            raise ServiceUnavailable("cassandra", f"{type(err).__name__}: {err}") from err

    async def get_user(self, username: str) -> User | None:
        rows = await self._run(self._get_user, (username,))
        if not rows:
            return None
        r = rows[0]
        return User(
            r.username,
            r.password_hash,
            Role(r.role),
            _utc(r.created_at) or datetime.now(UTC),
            bool(r.disabled),
        )

    async def create_user(self, user: User) -> bool:
        params = (
            user.username,
            user.password_hash,
            user.role.value,
            user.disabled,
            user.created_at,
        )
        rows = await self._run(self._new_user, params)
        return bool(rows and rows[0].applied)

    async def put_key(self, key: ApiKeyRecord) -> None:
        await self._run(
            self._put_key,
            (
                key.key_id,
                key.key_hash,
                key.name,
                key.role.value,
                key.tier,
                key.owner,
                key.created_by,
                key.created_at,
                key.revoked_at,
            ),
        )

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = await self._run(self._get_key, (key_id,))
        return _key(rows[0]) if rows else None

    async def list_keys(self) -> list[ApiKeyRecord]:
        return sorted(
            (_key(r) for r in await self._run(self._all_keys, ())), key=lambda k: k.created_at
        )

    async def revoke_key(self, key_id: str, at: datetime) -> ApiKeyRecord | None:
        if await self.get_key(key_id) is None:
            return None
        await self._run(self._revoke, (at, key_id))
        return await self.get_key(key_id)
