"""System endpoints against the real stack: liveness, readiness of each dependency, version."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from compose.settings import Settings

pytestmark = pytest.mark.stack


def _client(settings: Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://qllm.test")


async def test_liveness_answers_ok(settings: Settings) -> None:
    async with _client(settings) as client:
        response = await client.get("/api/v1/system/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_reports_every_dependency_ready(
    settings: Settings, kafka_bootstrap: str, cassandra_contact: str, redis_url: str
) -> None:
    async with _client(settings) as client:
        response = await client.get("/api/v1/system/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["services"]) == {"kafka", "cassandra", "redis"}
    assert all(s["ready"] for s in body["services"].values())


async def test_readiness_is_503_with_retry_after_when_kafka_is_unreachable(
    settings: Settings, redis_url: str
) -> None:
    broken = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    async with _client(broken) as client:
        response = await client.get("/api/v1/system/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert body["services"]["kafka"]["ready"] is False
    assert body["services"]["redis"]["ready"] is True


async def test_version_names_the_product(settings: Settings) -> None:
    async with _client(settings) as client:
        response = await client.get("/api/v1/system/version")
    assert response.json()["name"] == "qllm-platform"
    assert response.json()["api"] == "v1"
