"""Fixtures of the API tests: an app per test against the real Redis, and one Cassandra auth
keyspace per test module (creating tables is the slow part), handed to each app as its store.

Everything a test writes lives under a unique Redis prefix and a unique keyspace.
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from pydantic import SecretStr

from api.app import create_app
from api.auth.cassandra_store import CassandraAuthStore
from api.auth.permissions import Role
from api.auth.store import AuthStore
from api.config import ApiConfig, RateTier
from api.observability.logs import JsonFormatter
from compose.settings import Settings
from schemas.codec import default_codec
from schemas.records import Record

JWT_SECRET = "test-signing-key-" + "x" * 32
ADMIN, ADMIN_PASSWORD = "root", "correct horse battery staple"
PASSWORD = "a perfectly long passphrase"
WEBHOOK_SECRET = "webhook-signing-key-" + "w" * 24


@pytest.fixture(scope="module")
def auth_keyspace(cassandra_cluster: object) -> Iterator[str]:
    keyspace = f"api_test_{uuid.uuid4().hex[:10]}"
    yield keyspace
    session = cassandra_cluster.connect()  # type: ignore[attr-defined]
    session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)


@pytest.fixture(scope="module")
def cassandra_store(auth_keyspace: str, cassandra_contact: str) -> Iterator[CassandraAuthStore]:
    # its own loop in its own thread: the store outlives any one test's event loop
    with ThreadPoolExecutor(1) as pool:
        store = pool.submit(asyncio.run, CassandraAuthStore.open(cassandra_contact, auth_keyspace))
        opened = store.result()
        yield opened
        pool.submit(asyncio.run, opened.close()).result()


@pytest.fixture
def api_settings(settings: Settings, redis_url: str, unique: str) -> Settings:
    # own topics (and projection keys): a route that publishes never reaches a dev stack's
    return settings.model_copy(
        update={"jwt_secret": SecretStr(JWT_SECRET), "topic_prefix": f"t{unique}."}
    )


@pytest.fixture
def api_config(unique: str, tmp_path: Path) -> ApiConfig:
    return ApiConfig(
        data_root=str(tmp_path / "datasets"),
        webhook_secret=SecretStr(WEBHOOK_SECRET),
        webhook_backoff_s=0.05,
        admin_username=ADMIN,
        admin_password=SecretStr(ADMIN_PASSWORD),
        redis_prefix=f"qllm:test:{unique}:",
        rate_tiers={
            "standard": RateTier(limit=10_000, window_s=60),
            "tiny": RateTier(limit=3, window_s=60),
        },
        login_max_failures=3,
        login_max_failures_per_ip=6,
        api_key_max_failures=3,
        max_body_bytes=4096,
    )


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient

    async def login(self, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> str:
        response = await self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def as_admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.login()}"}

    async def user_with_role(self, role: Role, admin: dict[str, str]) -> dict[str, str]:
        username = f"{role.value}-{uuid.uuid4().hex[:6]}"
        body = {"username": username, "password": PASSWORD, "role": role.value}
        created = await self.client.post("/api/v1/auth/users", json=body, headers=admin)
        assert created.status_code == 201, created.text
        return {"Authorization": f"Bearer {await self.login(username, PASSWORD)}"}

    async def key_with(
        self, admin: dict[str, str], role: Role = Role.USER, tier: str = "standard"
    ) -> dict[str, str]:
        body = {"name": "test key", "role": role.value, "tier": tier}
        created = await self.client.post("/api/v1/auth/keys", json=body, headers=admin)
        assert created.status_code == 201, created.text
        return dict(created.json())


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(
    api_settings: Settings, api_config: ApiConfig, cassandra_store: CassandraAuthStore
) -> AsyncIterator[MakeApi]:
    built: list[Api] = []

    async def make(
        settings: Settings | None = None,
        config: ApiConfig | None = None,
        store: AuthStore = cassandra_store,
    ) -> Api:
        app = create_app(settings or api_settings, config or api_config, auth_store=store)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://qllm.test"
        )
        built.append(Api(app, client))
        return built[-1]

    yield make
    for api in built:
        await api.client.aclose()
        await api.app.state.resources.aclose()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()


async def commands_on(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[Record]:
    """Every record on ``topic`` (this test's prefix) up to its end offsets now, decoded.

    Reads every partition to its end offset (one ``getmany`` may return only some partitions'
    records, and a cold broker can take seconds to answer the first fetch)."""
    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(
        name,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no partitions of {name} assigned")
            await asyncio.sleep(0.1)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"could not read {name} to its end offsets {ends}")
            batches = await consumer.getmany(timeout_ms=1000)
            records += [default_codec().decode(m.value) for ms in batches.values() for m in ms]
    finally:
        await consumer.stop()
    return records


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged anywhere, formatted as the service formats it."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield sink
    root.removeHandler(handler)
    root.setLevel(previous)
