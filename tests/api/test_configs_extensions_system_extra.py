"""Configs, extensions and the authenticated system routes: normal paths, 422 naming the field,
404 in the error format, cleanup of interrupted uploads (admin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.auth.permissions import Role
from api.config import ApiConfig
from model import preset_names
from tests.api.conftest import Api

pytestmark = pytest.mark.stack


async def test_presets_templates_and_schema_follow_the_model_package(api: Api) -> None:
    reader = await api.user_with_role(Role.READONLY, await api.as_admin())
    presets = (await api.client.get("/api/v1/configs/presets/models", headers=reader)).json()
    assert set(presets) == set(preset_names()) and presets["tiny"]["d_model"] == 64
    training = (await api.client.get("/api/v1/configs/presets/training", headers=reader)).json()
    assert all(p["max_steps"] > 0 for p in training.values())
    templates = (await api.client.get("/api/v1/configs/templates", headers=reader)).json()
    assert templates["standard"]["dataset_id"] == "default"
    schema = (await api.client.get("/api/v1/configs/schema", headers=reader)).json()
    assert "d_model" in schema["model"]["properties"]
    assert "learning_rate" in schema["training"]["properties"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": {"preset": "tiny", "d_model": 65}}, "model.d_model"),
        ({"model": {"primes": [4, 7]}}, "model.primes"),
        ({"model": {"preset": "giant"}}, "model.preset"),
        ({"training": {"learning_rate": 0}}, "training.learning_rate"),
        ({"training": {"nonsense": 1}}, "training.nonsense"),
    ],
)
async def test_validate_names_the_bad_field(api: Api, body: dict, field: str) -> None:
    response = await api.client.post(
        "/api/v1/configs/validate", json=body, headers=await api.as_admin()
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"]["fields"][0]["field"] == field


async def test_validate_accepts_a_good_config_and_expands_the_preset(api: Api) -> None:
    body = {"model": {"preset": "tiny", "n_layers": 3}, "training": {"learning_rate": 0.001}}
    response = await api.client.post(
        "/api/v1/configs/validate", json=body, headers=await api.as_admin()
    )
    assert response.status_code == 200
    assert (response.json()["model"]["n_layers"], response.json()["model"]["d_model"]) == (3, 64)


async def test_extensions_list_get_schema_and_unknown_is_404(api: Api) -> None:
    admin = await api.as_admin()
    names = [e["name"] for e in (await api.client.get("/api/v1/extensions", headers=admin)).json()]
    assert {"memory", "multimodal", "quantum", "observer", "structured"} == set(names)
    memory = (await api.client.get("/api/v1/extensions/memory", headers=admin)).json()
    assert memory["switch"] == "memory" and "memory_slots" in memory["settings"]
    schema = (await api.client.get("/api/v1/extensions/memory/schema", headers=admin)).json()
    assert {"memory", "memory_top_k"} <= set(schema["properties"])
    missing = await api.client.get("/api/v1/extensions/telepathy", headers=admin)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


async def test_status_and_resources_describe_the_platform_and_host(api: Api) -> None:
    reader = await api.user_with_role(Role.READONLY, await api.as_admin())
    status = (await api.client.get("/api/v1/system/status", headers=reader)).json()
    assert (status["jobs"], status["models"], status["datasets"]) == (0, 0, 0)
    host = (await api.client.get("/api/v1/system/resources", headers=reader)).json()
    assert host["cpu_count"] >= 1 and host["memory_total_bytes"] > 0
    assert isinstance(host["gpus"], list)


async def test_cleanup_removes_interrupted_uploads_only(api: Api, api_config: ApiConfig) -> None:
    root = Path(api_config.data_root)
    (root / "ds-interrupted").mkdir(parents=True)
    (root / "ds-interrupted" / "data.jsonl.partial").write_bytes(b"{}")
    admin = await api.as_admin()
    files = {"file": ("d.txt", b"some text\n")}
    kept = await api.client.post(
        "/api/v1/datasets", headers=admin, files=files, data={"name": "kept", "format": "text"}
    )
    assert kept.status_code == 201
    response = await api.client.post(
        "/api/v1/system/cleanup", params={"older_than_s": 0}, headers=admin
    )
    assert response.json() == {"removed_uploads": ["ds-interrupted"]}
    assert (root / kept.json()["dataset_id"]).exists() and not (root / "ds-interrupted").exists()
