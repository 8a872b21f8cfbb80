"""Model routes without workers: register is a command in Kafka behind a 202, unknown ids are 404,
the list filters, and a load of a model that is not projected is refused before publishing."""

from __future__ import annotations

import pytest

from api.auth.permissions import Role
from api.projection import MAX_OFFSET
from compose.settings import Settings
from producers.topics import MODEL_COMMANDS
from schemas.models import RegisterModel
from tests.api.conftest import Api, commands_on

pytestmark = pytest.mark.stack
MODELS = "/api/v1/models"


async def test_register_is_202_with_location_and_the_command_in_kafka(
    api: Api, api_settings: Settings
) -> None:
    trainer = await api.user_with_role(Role.TRAINER, await api.as_admin())
    body = {"model_id": "m-demo", "preset": "tiny", "description": "a demo"}
    response = await api.client.post(MODELS, json=body, headers=trainer)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"{MODELS}/m-demo"
    (record,) = await commands_on(api_settings, MODEL_COMMANDS)
    assert isinstance(record, RegisterModel)
    assert (record.stream_id, record.preset, record.description) == ("m-demo", "tiny", "a demo")


async def test_unknown_model_routes_are_404_and_a_bad_preset_is_422(api: Api) -> None:
    admin = await api.as_admin()
    for method, suffix in [("GET", ""), ("DELETE", ""), ("POST", "/load"), ("POST", "/unload"),
                           ("GET", "/status"), ("GET", "/versions")]:  # fmt: skip
        response = await api.client.request(method, f"{MODELS}/m-none{suffix}", headers=admin)
        assert (response.status_code, response.json()["error"]) == (404, "not_found"), suffix
    bad = await api.client.post(MODELS, json={"preset": "giant"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["details"]["fields"][0]["field"] == "preset"
    listed = await api.client.get(MODELS, headers=admin, params={"status": "READY"})
    assert listed.json()["items"] == []


async def test_a_page_offset_past_any_list_is_empty_and_one_redis_cannot_take_is_422(
    api: Api,
) -> None:
    # found by schemathesis (on the jobs list): an offset past Redis's signed 64-bit was a 500
    admin = await api.as_admin()
    far = await api.client.get(MODELS, headers=admin, params={"offset": MAX_OFFSET, "limit": 200})
    assert far.status_code == 200, far.text
    assert far.json()["items"] == []
    for offset in (MAX_OFFSET + 1, 2**63 - 1, 2**64):
        response = await api.client.get(MODELS, headers=admin, params={"offset": offset})
        assert response.status_code == 422, (offset, response.text)
        assert [f["field"] for f in response.json()["details"]["fields"]] == ["offset"]
