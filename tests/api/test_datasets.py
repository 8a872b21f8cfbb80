"""Datasets: multipart upload validated line by line, list/get/delete, ownership, limits."""

from __future__ import annotations

import pytest

from api.auth.permissions import Role
from api.config import ApiConfig
from tests.api.conftest import Api, MakeApi

pytestmark = pytest.mark.stack
DATASETS = "/api/v1/datasets"
DIALOGUE = b'{"prompt": "hi", "response": "hello"}\n\n{"prompt": "bye", "response": "see you"}\n'


async def _upload(api: Api, headers: dict[str, str], content: bytes, **form: str) -> object:
    data = {"name": "demo", "format": "jsonl", "kind": "dialogue", **form}
    return await api.client.post(
        DATASETS, headers=headers, data=data, files={"file": ("d.jsonl", content)}
    )


async def test_upload_get_list_delete_round_trip(api: Api) -> None:
    trainer = await api.user_with_role(Role.TRAINER, await api.as_admin())
    created = await _upload(api, trainer, DIALOGUE)
    assert created.status_code == 201, created.text  # type: ignore[attr-defined]
    dataset = created.json()  # type: ignore[attr-defined]
    assert (dataset["records"], dataset["kind"], dataset["size_bytes"]) == (
        2,
        "dialogue",
        len(DIALOGUE),
    )
    path = f"{DATASETS}/{dataset['dataset_id']}"
    assert (await api.client.get(path, headers=trainer)).json() == dataset
    listed = (await api.client.get(DATASETS, headers=trainer)).json()
    assert [d["dataset_id"] for d in listed] == [dataset["dataset_id"]]
    assert (await api.client.delete(path, headers=trainer)).status_code == 204
    gone = await api.client.get(path, headers=trainer)
    assert (gone.status_code, gone.json()["error"]) == (404, "not_found")


async def test_a_bad_line_is_422_naming_the_line_and_nothing_is_kept(api: Api) -> None:
    admin = await api.as_admin()
    bad = b'{"prompt": "a", "response": "b"}\n{"prompt": "a"}\n'
    response = await _upload(api, admin, bad)
    assert response.status_code == 422  # type: ignore[attr-defined]
    error = response.json()  # type: ignore[attr-defined]
    assert error["details"]["line"] == 2 and "response" in error["details"]["reason"]
    assert error["details"]["fields"][0]["field"] == "file"
    not_json = await _upload(api, admin, b'{"text": "ok"}\nnot json\n', kind="text")
    assert not_json.json()["details"]["line"] == 2  # type: ignore[attr-defined]
    assert (await api.client.get(DATASETS, headers=admin)).json() == []


async def test_an_upload_over_the_size_limit_is_413(
    make_api: MakeApi, api_config: ApiConfig
) -> None:
    api = await make_api(config=api_config.model_copy(update={"max_dataset_bytes": 64}))
    response = await _upload(api, await api.as_admin(), b'{"text": "x"}\n' * 20, kind="text")
    assert response.status_code == 413  # type: ignore[attr-defined]


async def test_a_trainer_deletes_only_its_own_datasets(api: Api) -> None:
    admin = await api.as_admin()
    owner = await api.user_with_role(Role.TRAINER, admin)
    other = await api.user_with_role(Role.TRAINER, admin)
    dataset = (await _upload(api, owner, DIALOGUE)).json()  # type: ignore[attr-defined]
    path = f"{DATASETS}/{dataset['dataset_id']}"
    assert (await api.client.delete(path, headers=other)).status_code == 403
    assert (await api.client.delete(path, headers=admin)).status_code == 204


async def test_a_job_on_a_dataset_of_another_kind_is_422_naming_training_type(api: Api) -> None:
    trainer = await api.user_with_role(Role.TRAINER, await api.as_admin())
    dataset = (await _upload(api, trainer, DIALOGUE)).json()  # type: ignore[attr-defined]
    body = {"dataset_id": dataset["dataset_id"], "training_type": "empathy"}
    response = await api.client.post("/api/v1/training/jobs", json=body, headers=trainer)
    assert response.status_code == 422
    assert response.json()["details"]["fields"][0]["field"] == "training_type"
