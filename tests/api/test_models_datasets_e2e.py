"""End to end with real workers (subprocesses): the model handler makes registered, updated,
reconfigured and retired models appear in the projection, and a dialogue job trains on a JSONL
dataset uploaded through the API to SUCCEEDED."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fsspec
import pytest

from api.auth.permissions import Role
from api.config import ApiConfig
from compose.settings import Settings
from producers.topics import provision
from tests.api.conftest import Api, MakeApi
from tests.api.live_stack import stop

pytestmark = pytest.mark.stack
MODELS = "/api/v1/models"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: Any, settings: Settings, kafka_bootstrap: str, redis_url: str,
    cassandra_cluster: Any,
) -> Iterator[Settings]:  # fmt: skip
    tag = uuid.uuid4().hex[:10]
    folder = tmp_path_factory.mktemp("workers")
    own = settings.model_copy(
        update={
            "topic_prefix": f"t{tag}.",
            "cassandra_keyspace": f"api_{tag}",
            "data_root": str(folder / "datasets"),
        }
    )
    with ThreadPoolExecutor(1) as pool:  # its own loop: leaves the tests' event loop alone
        pool.submit(asyncio.run, provision(own)).result()
    env = {
        **os.environ,
        "QLLM_TOPIC_PREFIX": own.topic_prefix,
        "QLLM_CASSANDRA_KEYSPACE": own.cassandra_keyspace,
        "QLLM_DATA_ROOT": own.data_root,
        "QLLM_WORKER_CHECKPOINT_URL": str(folder / "checkpoints"),
        "QLLM_WORKER_BATCH_SIZE": "4",
        "QLLM_WORKER_SEQ_LEN": "32",
        "QLLM_WORKER_EVAL_TOKENS": "64",
        "QLLM_WORKER_CHECKPOINT_EVERY": "3",
        "QLLM_WORKER_SESSION_TIMEOUT_MS": "6000",
        "QLLM_WORKER_HEARTBEAT_INTERVAL_MS": "1000",
    }
    procs = []
    roles = (("streams", ["streams", "worker"]), ("models", ["consumers", "models"]),
             ("training", ["consumers", "training"]))  # fmt: skip
    for name, argv in roles:
        with (folder / f"{name}.log").open("wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", *argv], env=env, stdout=log,
                                          stderr=subprocess.STDOUT))  # fmt: skip
    try:
        yield own
    finally:
        stop(*procs)
        session = cassandra_cluster.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {own.cassandra_keyspace}", timeout=60)


@pytest.fixture
async def live(stack: Settings, make_api: MakeApi, api_settings: Settings,
               api_config: ApiConfig) -> Api:  # fmt: skip
    settings = api_settings.model_copy(
        update={"topic_prefix": stack.topic_prefix, "cassandra_keyspace": stack.cassandra_keyspace}
    )
    config = api_config.model_copy(update={"data_root": stack.data_root})
    return await make_api(settings=settings, config=config)


async def _poll(api: Api, path: str, headers: dict[str, str], done: Any, timeout: float) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.client.get(path, headers=headers)
        if response.status_code == 200 and done(response.json()):
            return response.json()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} not done in {timeout}s: {response.text}")
        await asyncio.sleep(0.3)


async def test_a_model_is_registered_updated_reconfigured_and_retired_through_the_handler(
    live: Api,
) -> None:
    admin = await live.as_admin()
    owner = await live.user_with_role(Role.TRAINER, admin)
    other = await live.user_with_role(Role.TRAINER, admin)
    mid = f"m-{uuid.uuid4().hex[:8]}"
    created = await live.client.post(MODELS, json={"model_id": mid, "description": "v1"},
                                     headers=owner)  # fmt: skip
    assert created.status_code == 202, created.text
    await _poll(live, f"{MODELS}/{mid}", owner, lambda m: m["status"] == "REGISTERED", 60)

    assert (await live.client.patch(f"{MODELS}/{mid}", json={"tags": ["x"]}, headers=other)
            ).status_code == 403  # fmt: skip
    empty = await live.client.patch(f"{MODELS}/{mid}", json={}, headers=owner)
    assert empty.status_code == 422 and empty.json()["details"]["fields"][0]["field"]
    patched = await live.client.patch(f"{MODELS}/{mid}", json={"description": "v2",
                                      "tags": ["demo"]}, headers=owner)  # fmt: skip
    assert patched.status_code == 202, patched.text
    model = await _poll(live, f"{MODELS}/{mid}", owner, lambda m: m["tags"] == ["demo"], 60)
    assert model["description"] == "v2"

    ext = f"{MODELS}/{mid}/extensions/memory"
    bad = await live.client.patch(ext, json={"settings": {"memory_slots": "many"}}, headers=owner)
    assert bad.status_code == 422
    assert bad.json()["details"]["fields"][0]["field"] == "settings.memory_slots"
    unknown = await live.client.post(f"{MODELS}/{mid}/extensions/nope/enable", headers=owner)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    tuned = await live.client.patch(ext, json={"enabled": True, "settings": {"memory_slots": 64}},
                                    headers=owner)  # fmt: skip
    assert tuned.status_code == 202, tuned.text
    await _poll(live, f"{MODELS}/{mid}", owner, lambda m: m["enabled_extensions"] == ["memory"], 60)
    listed = (await live.client.get(f"{MODELS}/{mid}/extensions", headers=owner)).json()
    memory = next(e for e in listed if e["name"] == "memory")
    assert memory["enabled"] and memory["settings"]["memory_slots"] == "64"
    assert memory["settings"]["memory_top_k"] == "4"  # the default, untouched
    off = await live.client.post(f"{ext}/disable", headers=admin)  # an admin manages any model
    assert off.status_code == 202
    await _poll(live, f"{MODELS}/{mid}", owner, lambda m: m["enabled_extensions"] == [], 60)

    retired = await live.client.delete(f"{MODELS}/{mid}", headers=owner)
    assert retired.status_code == 202
    await _poll(live, f"{MODELS}/{mid}", owner, lambda m: m["status"] == "RETIRED", 60)
    late = await live.client.patch(f"{MODELS}/{mid}", json={"description": "v3"}, headers=owner)
    assert late.status_code == 409 and late.json()["error"] == "conflict"


async def test_a_dialogue_job_trains_on_an_uploaded_jsonl_dataset_to_succeeded(
    live: Api, stack: Settings
) -> None:
    trainer = await live.user_with_role(Role.TRAINER, await live.as_admin())
    rows = [{"prompt": f"How are you, {n}?", "response": f"Fine, thanks {n}, and you?"}
            for n in ("Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal")]  # fmt: skip
    content = "\n".join(json.dumps(r) for r in rows).encode()
    form = {"name": "greetings", "format": "jsonl", "kind": "dialogue"}
    uploaded = await live.client.post("/api/v1/datasets", headers=trainer, data=form,
                                      files={"file": ("d.jsonl", content)})  # fmt: skip
    assert uploaded.status_code in (200, 201), uploaded.text
    dataset_id = uploaded.json()["dataset_id"]
    assert (Path(stack.data_root) / dataset_id / "manifest.json").is_file()  # the workers' root
    body = {"preset": "tiny", "max_steps": 4, "training_type": "dialogue",
            "dataset_id": dataset_id}  # fmt: skip
    created = await live.client.post("/api/v1/training/jobs", json=body, headers=trainer)
    assert created.status_code == 202, created.text
    job = await _poll(live, created.headers["Location"], trainer,
                      lambda j: j["status"] in ("SUCCEEDED", "FAILED"), 180)  # fmt: skip
    assert job["status"] == "SUCCEEDED", job
    assert job["step"] == 4
    model = await _poll(live, f"{MODELS}/{job['model_id']}", trainer,
                        lambda m: m["status"] == "READY", 60)  # fmt: skip
    assert model["checkpoint_step"] == 4


async def test_a_job_trains_the_model_with_the_extensions_switched_on_for_it(
    live: Api, stack: Settings
) -> None:
    trainer = await live.user_with_role(Role.TRAINER, await live.as_admin())
    mid = f"m-{uuid.uuid4().hex[:8]}"
    created = await live.client.post(MODELS, json={"model_id": mid}, headers=trainer)
    assert created.status_code == 202, created.text
    await _poll(live, f"{MODELS}/{mid}", trainer, lambda m: m["status"] == "REGISTERED", 60)
    range_error = await live.client.patch(
        f"{MODELS}/{mid}/extensions/memory", json={"settings": {"memory_slots": 0}}, headers=trainer
    )
    assert range_error.status_code == 422, range_error.text  # the model's own check, up front
    assert range_error.json()["details"]["fields"][0]["field"] == "settings.memory_slots"
    for name, body in (("memory", {"enabled": True, "settings": {"memory_slots": 16}}),
                       ("observer", {"enabled": True})):  # fmt: skip
        switched = await live.client.patch(f"{MODELS}/{mid}/extensions/{name}", json=body,
                                           headers=trainer)  # fmt: skip
        assert switched.status_code == 202, switched.text
    await _poll(live, f"{MODELS}/{mid}", trainer,
                lambda m: m["enabled_extensions"] == ["memory", "observer"], 60)  # fmt: skip

    body = {"model_id": mid, "preset": "tiny", "max_steps": 3}
    submitted = await live.client.post("/api/v1/training/jobs", json=body, headers=trainer)
    assert submitted.status_code == 202, submitted.text
    job = await _poll(live, submitted.headers["Location"], trainer,
                      lambda j: j["status"] in ("SUCCEEDED", "FAILED"), 180)  # fmt: skip
    assert job["status"] == "SUCCEEDED", job
    assert job["extensions"] == {"memory": "True", "memory_slots": "16", "observer": "True"}
    with fsspec.open(f"{job['checkpoint_uri']}/config.json", "rt") as f:
        trained = json.load(f)["model"]["extensions"]
    assert (trained["memory"], trained["memory_slots"], trained["observer"]) == (True, 16, True)
    assert not trained["multimodal"] and not trained["quantum"]
