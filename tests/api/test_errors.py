"""The error contract: the design's body on /api/v1, OpenAI's on /v1, 422 naming the field, 404
for unknown routes, 413 for big bodies, 503 with Retry-After (fast) when a dependency is down."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiokafka.errors import KafkaConnectionError
from cassandra.cluster import NoHostAvailable
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.auth.store import MemoryAuthStore
from compose.settings import Settings
from tests.api.conftest import ADMIN, ADMIN_PASSWORD, Api, MakeApi

pytestmark = pytest.mark.stack
DESIGN_FIELDS = {"error", "message", "details", "request_id", "timestamp"}


async def test_missing_field_is_422_naming_it(api: Api) -> None:
    response = await api.client.post("/api/v1/auth/login", json={"username": ADMIN})
    body = response.json()
    assert response.status_code == 422 and set(body) == DESIGN_FIELDS
    assert body["details"]["fields"] == [
        {"field": "password", "location": "body", "message": "Field required", "type": "missing"}
    ]
    assert "password" in body["message"]


async def test_wrong_enum_is_422_naming_the_nested_field(api: Api) -> None:
    body = {"username": "bob", "password": "a long passphrase x", "role": "emperor"}
    response = await api.client.post("/api/v1/auth/users", json=body, headers=await api.as_admin())
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["details"]["fields"]] == ["role"]


async def test_malformed_json_is_422_not_500(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"] == "validation_error"


async def test_unknown_route_is_404_in_the_design_format(api: Api) -> None:
    response = await api.client.get("/api/v1/no-such-thing")
    body = response.json()
    assert response.status_code == 404 and set(body) == DESIGN_FIELDS
    assert body["error"] == "not_found" and body["details"]["path"] == "/api/v1/no-such-thing"


async def test_wrong_method_is_405_in_the_design_format(api: Api) -> None:
    response = await api.client.delete("/api/v1/auth/login")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


async def test_openai_paths_get_openais_error_shape(api: Api) -> None:
    response = await api.client.get("/v1/no-such-model")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "no such route",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }


async def test_body_over_the_limit_is_413_in_the_format(api: Api) -> None:
    big = {"username": "x" * 5000, "password": "y"}
    response = await api.client.post("/api/v1/auth/login", json=big)
    assert response.status_code == 413 and set(response.json()) == DESIGN_FIELDS
    assert response.json()["error"] == "payload_too_large"
    assert response.json()["details"]["limit_bytes"] == 4096


async def test_chunked_body_over_the_limit_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = await api.client.post(
        "/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_redis_down_is_a_quick_503_with_retry_after(
    make_api: MakeApi, api_settings: Settings
) -> None:
    down = api_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    api = await make_api(settings=down, store=MemoryAuthStore())
    start = time.monotonic()
    response = await api.client.post(
        "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert time.monotonic() - start < 10  # bounded, not a hang
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["details"]["service"] == "redis"


async def test_cassandra_down_is_a_quick_503_with_retry_after(
    make_api: MakeApi, api_settings: Settings
) -> None:
    down = api_settings.model_copy(update={"cassandra_contact": "127.0.0.1:1"})
    api = await make_api(settings=down, store=None)
    response = await api.client.post(
        "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert response.json()["details"]["service"] == "cassandra"


async def test_errors_carry_the_callers_request_id(api: Api) -> None:
    response = await api.client.get("/api/v1/auth/me", headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"


async def test_an_unsafe_request_id_is_replaced(api: Api) -> None:
    response = await api.client.get(
        "/api/v1/system/health", headers={"X-Request-ID": "bad id\twith spaces"}
    )
    assert response.headers["X-Request-ID"] not in {"", "bad id\twith spaces"}
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize(
    ("raised", "service"),
    [
        (KafkaConnectionError("broker gone"), "kafka"),
        (NoHostAvailable("no host", {}), "cassandra"),
        (RedisTimeoutError("slow"), "redis"),
    ],
)
async def test_raw_dependency_errors_become_503_in_both_shapes(
    api: Api, raised: Exception, service: str
) -> None:
    async def failing() -> None:
        raise raised

    for path in ("/api/v1/test-failing", "/v1/test-failing"):
        api.app.add_api_route(path, failing)
    design = await api.client.get("/api/v1/test-failing")
    openai = await api.client.get("/v1/test-failing")
    assert design.status_code == openai.status_code == 503
    assert design.headers["Retry-After"] == openai.headers["Retry-After"] == "5"
    assert design.json()["details"]["service"] == service
    assert openai.json()["error"]["type"] == "server_error"
