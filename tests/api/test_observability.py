"""Observability: the request histogram on /metrics, JSON logs with request ids and without
secrets, and docs served from local assets."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from api.observability.logs import redact
from tests.api.conftest import ADMIN, ADMIN_PASSWORD, JWT_SECRET, Api

pytestmark = pytest.mark.stack


async def test_metrics_expose_the_latency_histogram_by_route_template(api: Api) -> None:
    await api.client.get("/api/v1/system/health")
    await api.client.get("/api/v1/auth/keys/abc", headers=await api.as_admin())
    text = (await api.client.get("/metrics")).text
    # the +Inf bucket counts every request whatever its latency (a loaded machine is slow)
    assert re.search(
        r'qllm_http_request_duration_seconds_bucket\{le="\+Inf",method="GET",'
        r'route="/api/v1/system/health",status="200"\} [1-9]',
        text,
    )
    assert 'route="/api/v1/auth/keys/{key_id}",status="404"' in text
    assert "/api/v1/auth/keys/abc" not in text
    for name in (
        "qllm_http_requests_in_flight",
        "qllm_jobs",
        "qllm_inference_queue_depth",
        "qllm_inference_batch_size",
    ):
        assert f"# TYPE {name} " in text


async def test_access_log_is_one_json_object_with_the_request_id(
    api: Api, json_log: io.StringIO
) -> None:
    await api.client.get("/api/v1/system/health", headers={"X-Request-ID": "req-7"})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [entry for entry in lines if entry["logger"] == "qllm.api.access"]
    assert access[-1]["request_id"] == "req-7"
    assert (access[-1]["route"], access[-1]["status"]) == ("/api/v1/system/health", 200)


async def test_no_secret_reaches_the_logs_after_login_refresh_and_key_use(
    api: Api, json_log: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = (
        await api.client.post(
            "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}
        )
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    created = await api.key_with(bearer)
    await api.client.get("/api/v1/auth/me", headers={"X-API-Key": created["api_key"]})
    await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await api.client.post("/api/v1/auth/login", json={"username": ADMIN, "password": "wrong!"})
    captured = json_log.getvalue() + caplog.text
    assert "qllm.api.access" in captured  # the capture did see the requests
    secrets = [
        ADMIN_PASSWORD,
        "wrong!",
        JWT_SECRET,
        tokens["access_token"],
        tokens["refresh_token"],
        created["api_key"],
        created["api_key"].rsplit("_", 1)[1],
    ]
    for secret in secrets:
        assert secret not in captured


def test_redaction_masks_tokens_keys_and_password_assignments() -> None:
    text = (
        "Authorization: Bearer abc.def.ghi key=qllm_0123456789abcdef_"
        + "A" * 43
        + " password=hunter2 jwt eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"
    )
    masked = redact(text)
    for leaked in ("abc.def.ghi", "A" * 43, "hunter2", "c2lnbmF0dXJl"):
        assert leaked not in masked


async def test_swagger_ui_loads_with_local_assets_only(api: Api) -> None:
    page = (await api.client.get("/docs")).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r"url: '([^']+)'", page)
    assert "/static/docs/swagger-ui-bundle.js" in assets
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    assert "cdn" not in page.lower()
    for asset in assets:
        if asset.startswith("/static/"):
            response = await api.client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset


async def test_redoc_loads_with_local_assets_only(api: Api) -> None:
    page = (await api.client.get("/redoc")).text
    assert "/static/docs/redoc.standalone.js" in page
    assert "cdn" not in page.lower() and "fonts.googleapis" not in page
    script = await api.client.get("/static/docs/redoc.standalone.js")
    assert script.status_code == 200 and b"redoc" in script.content.lower()


async def test_openapi_spec_declares_bearer_and_api_key_security(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert spec["paths"]["/api/v1/auth/keys"]["post"]["security"]
    assert "security" not in spec["paths"]["/api/v1/system/health"]["get"]


async def test_openapi_lists_every_endpoint_group_in_the_documented_order(api: Api) -> None:
    """The docs' groups keep their order (``api.app.TAGS``) whatever order routes match in."""
    from api.app import TAGS

    spec = (await api.client.get("/openapi.json")).json()
    used = {t for ops in spec["paths"].values() for op in ops.values() for t in op["tags"]}
    assert [t["name"] for t in spec["tags"]] == list(TAGS)
    assert used == set(TAGS)  # a router with a new tag must be placed in TAGS too
