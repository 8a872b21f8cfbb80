"""The platform's Redis clients open connections without looking redis-py's version up again."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as aioredis
import redis.utils

from compose.redis_clients import async_client


@pytest.fixture
def version_lookups(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    """Counts redis-py's ``importlib.metadata`` version lookups (one per new connection)."""
    calls: list[None] = []
    real = redis.utils.get_lib_version

    def counted() -> str:
        calls.append(None)
        return real()

    monkeypatch.setattr(redis.utils, "get_lib_version", counted)
    return calls


def test_plain_redis_py_looks_its_version_up_for_every_new_connection(
    version_lookups: list[None],
) -> None:
    pool = aioredis.from_url("redis://127.0.0.1:1/0").connection_pool
    for _ in range(3):
        pool.make_connection()
    assert len(version_lookups) == 3  # what async_client avoids


def test_async_client_connections_reuse_the_version_read_at_import(
    version_lookups: list[None],
) -> None:
    client = async_client("redis://127.0.0.1:1/0", socket_timeout=1)
    connections = [client.connection_pool.make_connection() for _ in range(3)]
    assert version_lookups == []
    info = connections[0].driver_info
    assert info is not None and info.lib_version == redis.__version__
    assert connections[0].socket_timeout == 1  # other options still reach the connection
