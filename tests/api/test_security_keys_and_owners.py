"""Security pieces of issue 8 beyond the auth-route tests: the API-key cache's revocation bound,
the bad-key lockout on the one-round-trip path, QRAF state ownership, and no secret in the logs
of the resource routes (training, datasets, inference, QRAF, ``/v1``)."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid

import pytest
from redis.asyncio import Redis

from api.auth.permissions import Role
from schemas.snapshot import to_json
from schemas.states import QraftState, StateStatus
from tests.api.conftest import ADMIN_PASSWORD, JWT_SECRET, PASSWORD, Api, MakeApi

pytestmark = pytest.mark.stack


async def test_a_revoked_key_is_refused_at_once_here_and_within_the_cache_ttl_elsewhere(
    make_api: MakeApi,
) -> None:
    here, elsewhere = await make_api(), await make_api()  # two replicas, one store
    admin = await here.as_admin()
    created = await here.key_with(admin, Role.USER)
    key = {"X-API-Key": created["api_key"]}
    assert (await elsewhere.client.get("/api/v1/auth/me", headers=key)).status_code == 200
    await here.client.get("/api/v1/auth/me", headers=key)  # cached on both replicas
    revoked = await here.client.delete(f"/api/v1/auth/keys/{created['key_id']}", headers=admin)
    assert revoked.status_code == 204
    assert (await here.client.get("/api/v1/auth/me", headers=key)).status_code == 401
    # the other replica serves its cached record until the TTL runs out, and not after
    assert (await elsewhere.client.get("/api/v1/auth/me", headers=key)).status_code == 200
    elsewhere.app.state.resources.key_cache.ttl_s = 0.2
    await asyncio.sleep(0.25)
    late = await elsewhere.client.get("/api/v1/auth/me", headers=key)
    assert late.status_code == 401 and late.json()["message"] == "API key revoked"


async def test_a_locked_address_is_refused_even_with_a_cached_good_key(api: Api) -> None:
    admin = await api.as_admin()
    good = {"X-API-Key": (await api.key_with(admin))["api_key"]}
    assert (await api.client.get("/api/v1/auth/me", headers=good)).status_code == 200
    bad = {"X-API-Key": "qllm_" + "0" * 16 + "_" + "x" * 43}
    codes = [(await api.client.get("/api/v1/auth/me", headers=bad)).status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    locked = await api.client.get("/api/v1/auth/me", headers=good)
    assert locked.status_code == 429 and locked.json()["error"] == "locked_out"
    assert int(locked.headers["Retry-After"]) > 0
    again = await api.client.get("/api/v1/auth/me", headers=bad)
    assert again.status_code == 429  # a bad key from a locked address is not even looked up


async def _seed_state(api: Api, owner: str) -> str:
    """A READY state in the projection, written as the stream processor writes it."""
    resources = api.app.state.resources
    state_id = str(uuid.uuid4())
    state = QraftState(state_id=state_id, version=1, status=StateStatus.READY, owner=owner,
                       dimension=4)  # fmt: skip
    redis: Redis = resources.redis
    await redis.hset(resources.projection_keys.stream(state_id),
                     mapping={"kind": "state", "seq": 1, "state": to_json(state)})  # fmt: skip
    return state_id


async def _whoami(api: Api, headers: dict[str, str]) -> str:
    return str((await api.client.get("/api/v1/auth/me", headers=headers)).json()["subject"])


async def test_only_a_states_creator_or_an_admin_may_operate_on_it(api: Api) -> None:
    admin = await api.as_admin()
    alice, bob = (
        await api.user_with_role(Role.USER, admin),
        await api.user_with_role(Role.USER, admin),
    )
    state_id = await _seed_state(api, await _whoami(api, alice))
    body = {"state_id": state_id, "bits": 4}
    refused = await api.client.post("/api/v1/qraf/quantize", json=body, headers=bob)
    assert refused.status_code == 403 and refused.json()["details"]["owner"] != "bob"
    gone = await api.client.delete(f"/api/v1/qraf/states/{state_id}", headers=bob)
    assert gone.status_code == 403
    readable = await api.client.get(f"/api/v1/qraf/states/{state_id}", headers=bob)
    assert readable.status_code == 200  # reading is not managing
    assert (await api.client.post("/api/v1/qraf/quantize", json=body, headers=alice)).status_code \
        == 202  # fmt: skip
    other = await _seed_state(api, "someone-else")
    by_admin = await api.client.post("/api/v1/qraf/memory", json={"state_id": other},
                                     headers=admin)  # fmt: skip
    assert by_admin.status_code == 202


async def test_no_secret_reaches_the_logs_from_the_resource_routes(
    api: Api, json_log: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await api.as_admin()
    trainer_key = (await api.key_with(admin, Role.TRAINER))["api_key"]
    user = await api.user_with_role(Role.USER, admin)
    key = {"X-API-Key": trainer_key}
    job = {"preset": "tiny", "dataset_id": "default", "max_steps": 2}
    assert (await api.client.post("/api/v1/training/jobs", json=job, headers=key)).status_code \
        == 202  # fmt: skip
    upload = {"file": ("d.jsonl", b'{"text": "hello"}\n', "application/json")}
    await api.client.post("/api/v1/datasets", files=upload, data={"name": "d"}, headers=key)
    await api.client.post("/api/v1/inference/generate", headers=user,
                          json={"model": "no-such-model", "prompt": "hi"})  # fmt: skip
    await api.client.get("/v1/models", headers={"Authorization": f"Bearer {trainer_key}"})
    await api.client.post("/v1/embeddings", headers={"Authorization": f"Bearer {trainer_key}"},
                          json={"model": "no-such-model", "input": "hi"})  # fmt: skip
    await api.client.post("/api/v1/qraf/states", headers=user, json={"dimension": 4})
    await api.client.get("/api/v1/training/jobs", headers={"X-API-Key": trainer_key + "x"})
    captured = json_log.getvalue() + caplog.text
    assert "/api/v1/training/jobs" in captured and "/v1/embeddings" in captured
    bearer = user["Authorization"].removeprefix("Bearer ")
    for secret in (ADMIN_PASSWORD, PASSWORD, JWT_SECRET, trainer_key,
                   trainer_key.rsplit("_", 1)[1], bearer):  # fmt: skip
        assert secret not in captured
