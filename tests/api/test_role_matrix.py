"""Every route × every role: allowed or 403 exactly as the permissions table says, and every
route declares a permission or ``public``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from api.app import routers
from api.auth.permissions import PUBLIC, Permission, Role, allows
from tests.api.conftest import PASSWORD, Api

pytestmark = pytest.mark.stack


def _declared(route: APIRoute) -> set[str]:
    found: set[str] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        marker = getattr(dependant.call, "required_permission", None)
        if marker is not None:
            found.add(str(marker))
        stack.extend(dependant.dependencies)
    return found


def _routes(api: Api) -> list[APIRoute]:
    return [r for router in routers() for r in router.routes if isinstance(r, APIRoute)]


async def test_every_route_declares_exactly_one_requirement(api: Api) -> None:
    assert len(_routes(api)) >= 15
    for route in _routes(api):
        assert len(_declared(route)) == 1, (route.path, _declared(route))


async def test_health_docs_metrics_login_are_public(api: Api) -> None:
    public = {r.path for r in _routes(api) if _declared(r) == {PUBLIC}}
    assert {
        "/api/v1/system/health",
        "/api/v1/system/health/ready",
        "/metrics",
        "/docs",
        "/redoc",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
    } <= public


# a valid request per protected route, so "allowed" shows as a 2xx (or a domain 404/409)
_CALLS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/v1/auth/me"): {},
    ("POST", "/api/v1/auth/users"): {"json": {"password": PASSWORD, "role": "readonly"}},
    ("GET", "/api/v1/auth/users/{username}"): {},
    ("POST", "/api/v1/auth/keys"): {"json": {"name": "m", "role": "readonly"}},
    ("GET", "/api/v1/auth/keys"): {},
    ("GET", "/api/v1/auth/keys/{key_id}"): {},
    ("DELETE", "/api/v1/auth/keys/{key_id}"): {},
    # resource routes: unknown ids answer 404 before anything is published
    ("GET", "/api/v1/system/status"): {},
    ("GET", "/api/v1/system/resources"): {},
    ("POST", "/api/v1/system/cleanup"): {},
    ("POST", "/api/v1/training/jobs"): {"json": {"dataset_id": "ds-none"}},
    ("GET", "/api/v1/training/jobs"): {},
    ("GET", "/api/v1/training/jobs/{job_id}"): {},
    ("POST", "/api/v1/training/jobs/{job_id}/stop"): {},
    ("POST", "/api/v1/training/jobs/{job_id}/pause"): {},
    ("POST", "/api/v1/training/jobs/{job_id}/resume"): {},
    ("POST", "/api/v1/training/jobs/{job_id}/checkpoint"): {},
    ("GET", "/api/v1/training/jobs/{job_id}/logs"): {},
    ("GET", "/api/v1/training/jobs/{job_id}/metrics"): {},
    ("GET", "/api/v1/models"): {},
    ("POST", "/api/v1/models"): {"json": {"preset": "tiny"}},
    ("GET", "/api/v1/models/{model_id}"): {},
    ("DELETE", "/api/v1/models/{model_id}"): {},
    ("POST", "/api/v1/models/{model_id}/load"): {},
    ("POST", "/api/v1/models/{model_id}/unload"): {},
    ("GET", "/api/v1/models/{model_id}/status"): {},
    ("GET", "/api/v1/models/{model_id}/versions"): {},
    ("PATCH", "/api/v1/models/{model_id}"): {"json": {"description": "x"}},
    ("GET", "/api/v1/models/{model_id}/extensions"): {},
    ("PATCH", "/api/v1/models/{model_id}/extensions/{name}"): {"json": {"enabled": True}},
    ("POST", "/api/v1/models/{model_id}/extensions/{name}/enable"): {},
    ("POST", "/api/v1/models/{model_id}/extensions/{name}/disable"): {},
    ("POST", "/api/v1/datasets"): {
        "files": {"file": ("d.jsonl", b'{"text": "hello"}\n')},
        "data": {"name": "matrix", "format": "jsonl"},
    },
    ("GET", "/api/v1/datasets"): {},
    ("GET", "/api/v1/datasets/{dataset_id}"): {},
    ("DELETE", "/api/v1/datasets/{dataset_id}"): {},
    ("GET", "/api/v1/configs/templates"): {},
    ("POST", "/api/v1/configs/validate"): {"json": {}},
    ("GET", "/api/v1/configs/schema"): {},
    ("GET", "/api/v1/configs/presets/models"): {},
    ("GET", "/api/v1/configs/presets/training"): {},
    ("GET", "/api/v1/extensions"): {},
    ("GET", "/api/v1/extensions/{name}"): {},
    ("GET", "/api/v1/extensions/{name}/schema"): {},
    # inference, OpenAI-compatible and QRAF routes: unknown models and states answer 404
    ("POST", "/api/v1/inference/generate"): {"json": {"model": "model-none", "prompt": "x"}},
    ("POST", "/api/v1/inference/chat"): {
        "json": {"model": "model-none", "messages": [{"role": "user", "content": "x"}]}
    },
    ("POST", "/api/v1/inference/batch"): {"json": {"model": "model-none", "prompts": ["x"]}},
    ("POST", "/api/v1/inference/embeddings"): {"json": {"model": "model-none", "texts": ["x"]}},
    ("POST", "/api/v1/inference/similarity"): {
        "json": {"model": "model-none", "text_a": "x", "text_b": "y"}
    },
    ("GET", "/api/v1/inference/models/{model_id}/capabilities"): {},
    ("GET", "/v1/models"): {},
    ("GET", "/v1/models/{model_id}"): {},
    ("POST", "/v1/completions"): {"json": {"model": "model-none", "prompt": "x"}},
    ("POST", "/v1/chat/completions"): {
        "json": {"model": "model-none", "messages": [{"role": "user", "content": "x"}]}
    },
    ("POST", "/v1/embeddings"): {"json": {"model": "model-none", "input": "x"}},
    ("POST", "/api/v1/qraf/states"): {"json": {"dimension": 4}},
    ("GET", "/api/v1/qraf/states/{state_id}"): {},
    ("DELETE", "/api/v1/qraf/states/{state_id}"): {},
    ("GET", "/api/v1/qraf/states/{state_id}/metrics"): {},
    ("POST", "/api/v1/qraf/optimize/density"): {"json": {"state_id": "state-none"}},
    ("POST", "/api/v1/qraf/optimize/quantization"): {"json": {"state_id": "state-none"}},
    ("POST", "/api/v1/qraf/optimize/batch"): {
        "json": {"items": [{"state_id": "state-none", "operation": "quantize"}]}
    },
    ("POST", "/api/v1/qraf/correct"): {"json": {"state_id": "state-none"}},
    ("POST", "/api/v1/qraf/quantize"): {"json": {"state_id": "state-none"}},
    ("POST", "/api/v1/qraf/memory"): {"json": {"state_id": "state-none"}},
    ("POST", "/api/v1/qraf/enhance"): {
        "json": {"state_id": "state-none", "model": "preset:tiny", "prompt": "x"}
    },
}
_IDS = {"username": "nobody", "key_id": "0123456789abcdef", "job_id": "job-none",
        "model_id": "model-none", "dataset_id": "ds-none", "name": "memory",
        "state_id": "state-none"}  # fmt: skip


async def test_role_matrix_matches_the_permissions_table(api: Api) -> None:
    admin = await api.as_admin()
    callers = {role: await api.user_with_role(role, admin) for role in Role}
    protected = [(m, r) for r in _routes(api) if _declared(r) != {PUBLIC} for m in r.methods or ()]
    assert {(m, r.path) for m, r in protected} == set(_CALLS), "a route without a matrix row"
    for role, headers in callers.items():
        for method, route in protected:
            (permission,) = _declared(route)
            call = dict(_CALLS[(method, route.path)])
            if "json" in call and route.path == "/api/v1/auth/users":
                call["json"] = {**call["json"], "username": f"m-{role.value}"}
            path = route.path.format(**_IDS)
            response = await api.client.request(method, path, headers=headers, **call)
            expected_ok = allows(role, Permission(permission))
            if expected_ok:
                assert response.status_code in {200, 201, 202, 204, 404}, (role, method, path)
            else:
                assert response.status_code == 403, (role, method, path, response.text)
                if path.startswith("/v1/"):  # OpenAI's error shape on the compatible routes
                    assert response.json()["error"]["type"] == "permission_error", path
                    continue
                assert response.json()["details"] == {"role": role.value, "permission": permission}
