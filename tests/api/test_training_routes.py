"""Training routes without workers: validation naming the field, 404s in the error format, the
command really in Kafka when 202 is answered, and 503 (bounded) when Kafka is unreachable."""

from __future__ import annotations

import pytest

from api.auth.permissions import Role
from api.config import ApiConfig
from api.projection import MAX_OFFSET
from api.validation import TUNABLE
from compose.settings import Settings
from producers.topics import TRAINING
from schemas.jobs import StartTraining
from tests.api.conftest import Api, MakeApi, commands_on

pytestmark = pytest.mark.stack
JOBS = "/api/v1/training/jobs"


def test_tunable_hyperparameters_are_the_ones_the_worker_applies() -> None:
    from consumers.training import run

    assert TUNABLE == run._TUNABLE


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hyperparameters": {"learning_rate": -1.0}}, "hyperparameters.learning_rate"),
        ({"hyperparameters": {"momentum": 0.9}}, "hyperparameters.momentum"),
        ({"hyperparameters": {"warmup_steps": 2.5}}, "hyperparameters.warmup_steps"),
        ({"preset": "huge"}, "preset"),
        ({"max_steps": 0}, "max_steps"),
        ({"training_type": "dialogue"}, "training_type"),
        ({"callback_url": "not a url"}, "callback_url"),
    ],
)
async def test_a_bad_job_is_422_naming_the_field(api: Api, body: dict, field: str) -> None:
    admin = await api.as_admin()
    response = await api.client.post(JOBS, json=body, headers=admin)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "validation_error"
    assert field in [f["field"] for f in error["details"]["fields"]]
    assert {"message", "request_id", "timestamp"} <= set(error)


async def test_unknown_job_and_dataset_are_404_in_the_error_format(api: Api) -> None:
    admin = await api.as_admin()
    for method, path, body in [
        ("GET", f"{JOBS}/job-none", None),
        ("POST", f"{JOBS}/job-none/pause", None),
        ("GET", f"{JOBS}/job-none/metrics", None),
        ("GET", f"{JOBS}/job-none/logs", None),
        ("POST", JOBS, {"dataset_id": "ds-none"}),
    ]:
        response = await api.client.request(method, path, json=body, headers=admin)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == "not_found"
        assert response.json()["details"]


async def test_accepted_job_is_in_kafka_with_its_fields_and_a_location(
    api: Api, api_settings: Settings
) -> None:
    trainer = await api.user_with_role(Role.TRAINER, await api.as_admin())
    body = {
        "preset": "tiny",
        "max_steps": 7,
        "hyperparameters": {"learning_rate": 0.01},
        "callback_url": "http://127.0.0.1:9/hook",
    }
    response = await api.client.post(JOBS, json=body, headers=trainer)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["Location"] == f"{JOBS}/{job_id}"
    records = await commands_on(api_settings, TRAINING)
    (record,) = [r for r in records if r.stream_id == job_id]
    assert isinstance(record, StartTraining)
    assert (record.max_steps, record.hyperparameters) == (7, {"learning_rate": 0.01})
    assert record.owner == record.actor and record.owner.startswith("trainer-")
    assert record.callback_url == "http://127.0.0.1:9/hook"


async def test_kafka_unreachable_is_a_quick_503_with_retry_after(
    make_api: MakeApi, api_settings: Settings, api_config: ApiConfig
) -> None:
    down = api_settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    api = await make_api(
        settings=down, config=api_config.model_copy(update={"kafka_timeout_s": 1.0})
    )
    admin = await api.as_admin()
    response = await api.client.post(JOBS, json={"max_steps": 3}, headers=admin)
    assert response.status_code == 503, response.text
    assert response.json()["details"]["service"] == "kafka"
    assert int(response.headers["Retry-After"]) > 0


async def test_a_retried_submission_with_an_idempotency_key_is_the_same_command(
    api: Api, api_settings: Settings
) -> None:
    # regression (RELIABILITY.md bug 6): a client retrying after a 503 started the job twice
    admin = await api.as_admin()
    trainer = await api.user_with_role(Role.TRAINER, admin)
    other = await api.user_with_role(Role.TRAINER, admin)
    body = {"preset": "tiny", "max_steps": 3}
    first, again, theirs, plain = [
        await api.client.post(JOBS, json=body, headers={**who, **extra})
        for who, extra in (
            (trainer, {"Idempotency-Key": "order-42"}),
            (trainer, {"Idempotency-Key": "order-42"}),
            (other, {"Idempotency-Key": "order-42"}),
            (trainer, {}),
        )
    ]
    assert [r.status_code for r in (first, again, theirs, plain)] == [202] * 4
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["command_id"] == again.json()["command_id"]
    assert len({first.json()["id"], theirs.json()["id"], plain.json()["id"]}) == 3
    sent = await commands_on(api_settings, TRAINING)
    retried = [r for r in sent if r.stream_id == first.json()["id"]]
    assert len(retried) == 2 and len({r.event_id for r in retried}) == 1


async def test_a_page_offset_past_any_list_is_empty_and_one_redis_cannot_take_is_422(
    api: Api,
) -> None:
    # found by schemathesis: offset 2**64 reached Redis's ZREVRANGE (signed 64-bit) and was a 500
    admin = await api.as_admin()
    far = await api.client.get(JOBS, headers=admin, params={"offset": MAX_OFFSET, "limit": 200})
    assert far.status_code == 200, far.text
    assert far.json()["items"] == []
    for offset in (MAX_OFFSET + 1, 2**63 - 1, 2**64):
        response = await api.client.get(JOBS, headers=admin, params={"offset": offset})
        assert response.status_code == 422, (offset, response.text)
        assert [f["field"] for f in response.json()["details"]["fields"]] == ["offset"]
