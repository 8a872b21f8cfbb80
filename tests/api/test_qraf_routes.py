"""``/api/v1/qraf`` against the real stack: a kernel worker, a stream processor (the projection
the routes read) and an inference worker (for ``enhance``) as subprocesses, the API on uvicorn."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from api.auth.cassandra_store import CassandraAuthStore
from tests.api.live_stack import MODEL, LiveApi, admin_headers, live_settings, serving, spawn, stop

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def live(
    cassandra_store: CassandraAuthStore,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveApi]:
    settings = live_settings()
    folder = tmp_path_factory.mktemp("qraf")
    workers = [
        spawn(["-m", "streams", "worker"], settings, folder, "streams"),
        spawn(["-m", "consumers", "kernels"], settings, folder, "kernels"),
        spawn(["-m", "consumers", "inference"], settings, folder, "inference"),
    ]
    try:
        with serving(settings, cassandra_store) as base_url:
            yield LiveApi(base_url, settings, admin_headers(base_url))
    finally:
        for worker in workers:
            stop(worker)


def poll(http: httpx.Client, path: str, headers: dict[str, str],
         done: Callable[[httpx.Response], bool], timeout_s: float = 90) -> Any:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while True:
        response = http.get(path, headers=headers)
        if done(response):
            return response.json()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: {response.status_code} {response.text}")
        time.sleep(0.2)


def applied(count: int) -> Callable[[httpx.Response], bool]:
    return lambda r: (
        r.status_code == 200
        and r.json()["operations_applied"] >= count
        and (r.json()["status"] == "READY")
    )


def create(http: httpx.Client, user: dict[str, str], body: dict[str, Any]) -> str:
    response = http.post("/api/v1/qraf/states", json=body, headers=user)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/api/v1/qraf/states/{response.json()['id']}"
    poll(http, response.headers["Location"], user, applied(0))
    return str(response.json()["id"])


def test_state_lifecycle_operations_metrics_and_enhance(live: LiveApi) -> None:
    user = live.headers_for("user")
    with live.client() as http:
        sid = create(http, user, {"dimension": 16})
        other = create(http, user, {"dimension": 4, "real": [1, 0, 0, 0]})
        path = f"/api/v1/qraf/states/{sid}"
        steps = [("/api/v1/qraf/quantize", {"bits": 4}), ("/api/v1/qraf/optimize/density", {}),
                 ("/api/v1/qraf/correct", {"n": 3}), ("/api/v1/qraf/memory", {}),
                 ("/api/v1/qraf/optimize/quantization", {"bits": 8})]  # fmt: skip
        for n, (route, params) in enumerate(steps, 1):
            accepted = http.post(route, json={"state_id": sid, **params}, headers=user)
            assert accepted.status_code == 202, (route, accepted.text)
            assert accepted.headers["Location"] == path
            poll(http, path, user, applied(n))
        batch = http.post(
            "/api/v1/qraf/optimize/batch",
            headers=user,
            json={
                "items": [
                    {"state_id": sid, "operation": "compress_memory"},
                    {"state_id": other, "operation": "optimize_density", "params": {"noise": 0.1}},
                ]
            },
        )
        assert batch.status_code == 202 and len(batch.json()["items"]) == 2
        state = poll(http, path, user, applied(6))
        poll(http, f"/api/v1/qraf/states/{other}", user, applied(1))
        metrics = http.get(f"{path}/metrics", headers=user).json()["operations"]
        enhanced = http.post("/api/v1/qraf/enhance", headers=user, json={
            "state_id": sid, "model": MODEL, "prompt": "So:", "max_tokens": 4, "temperature": 0,
            "memory_items": 1})  # fmt: skip
    assert state["dimension"] == 16 and state["owner"].startswith("user-")
    assert [m["operation"] for m in metrics] == [
        "quantize",
        "optimize_density",
        "correct_errors",
        "compress_memory",
        "quantize",
        "compress_memory",
    ]
    assert metrics[0]["metrics"]["bits"] == 4.0 and metrics[4]["metrics"]["bits"] == 8.0
    assert 0.0 < metrics[1]["metrics"]["purity"] <= 1.0 + 1e-6
    assert enhanced.status_code == 200, enhanced.text
    (line,) = enhanced.json()["memory"]  # the newest operation: tiny's context holds one line
    assert line.startswith("[memory] compress_memory: memory_norm=")
    assert enhanced.json()["prompt_tokens"] > len(line) // 4  # the memory went into the prompt


def test_delete_then_the_state_is_gone(live: LiveApi) -> None:
    user = live.headers_for("user")
    with live.client() as http:
        sid = create(http, user, {"dimension": 8})
        deleted = http.delete(f"/api/v1/qraf/states/{sid}", headers=user)
        assert deleted.status_code == 202
        gone = poll(http, f"/api/v1/qraf/states/{sid}", user, lambda r: r.status_code == 404)
        again = http.post("/api/v1/qraf/quantize", json={"state_id": sid}, headers=user)
    assert gone["error"] == "not_found" and gone["details"] == {"state_id": sid}
    assert again.status_code == 404


def test_bad_bodies_are_422_naming_the_field_and_readonly_cannot_write(live: LiveApi) -> None:
    user, readonly = live.headers_for("user"), live.headers_for("readonly")
    with live.client() as http:
        zero = http.post("/api/v1/qraf/states", json={"dimension": 0}, headers=user)
        bits = http.post("/api/v1/qraf/quantize", json={"state_id": "x", "bits": 3}, headers=user)
        sizes = http.post("/api/v1/qraf/states", json={"dimension": 2, "real": [1]}, headers=user)
        denied = http.post("/api/v1/qraf/states", json={"dimension": 2}, headers=readonly)
    assert zero.status_code == 422 and zero.json()["details"]["fields"][0]["field"] == "dimension"
    assert bits.status_code == 422 and bits.json()["details"]["fields"][0]["field"] == "bits"
    assert sizes.status_code == 422 and "real has 1 values" in sizes.json()["message"]
    assert denied.status_code == 403 and denied.json()["details"]["permission"] == "qraf:run"
