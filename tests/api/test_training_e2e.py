"""End to end: a job submitted over REST is trained by a real training worker (subprocess), folded
by the real stream processor (subprocess), and read back: state, list, metrics, SSE log with
resume, the trained model and its version, and the signed webhook of its final status."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from api.auth.permissions import Role
from api.webhooks import SIGNATURE, TIMESTAMP, verify, watching
from compose.settings import Settings
from producers.topics import provision
from tests.api.conftest import WEBHOOK_SECRET, Api, MakeApi
from tests.api.live_stack import stop
from tests.api.receiver import receiver

pytestmark = pytest.mark.stack
STEPS = 6


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: Any,
    settings: Settings,
    kafka_bootstrap: str,
    redis_url: str,
    cassandra_cluster: Any,
) -> Iterator[Settings]:
    tag = uuid.uuid4().hex[:10]
    own = settings.model_copy(
        update={"topic_prefix": f"t{tag}.", "cassandra_keyspace": f"api_{tag}"}
    )
    with ThreadPoolExecutor(1) as pool:  # its own loop: leaves the tests' event loop alone
        pool.submit(asyncio.run, provision(own)).result()
    folder = tmp_path_factory.mktemp("workers")
    env = {
        **os.environ,
        "QLLM_TOPIC_PREFIX": own.topic_prefix,
        "QLLM_CASSANDRA_KEYSPACE": own.cassandra_keyspace,
        "QLLM_WORKER_CHECKPOINT_URL": str(folder / "checkpoints"),
        "QLLM_WORKER_BATCH_SIZE": "4",
        "QLLM_WORKER_SEQ_LEN": "32",
        "QLLM_WORKER_CORPUS_DOCUMENTS": "12",
        "QLLM_WORKER_EVAL_TOKENS": "64",
        "QLLM_WORKER_CHECKPOINT_EVERY": "3",
        "QLLM_WORKER_SESSION_TIMEOUT_MS": "6000",
        "QLLM_WORKER_HEARTBEAT_INTERVAL_MS": "1000",
    }
    procs = []
    for name, argv in (("streams", ["streams", "worker"]), ("training", ["consumers", "training"])):
        with (folder / f"{name}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", *argv], env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
    try:
        yield own
    finally:
        stop(*procs)
        session = cassandra_cluster.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {own.cassandra_keyspace}", timeout=60)


async def _poll(api: Api, path: str, headers: dict[str, str], done: Any, timeout: float) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.client.get(path, headers=headers)
        if response.status_code == 200 and done(response.json()):
            return response.json()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} not done in {timeout}s: {response.text}")
        await asyncio.sleep(0.5)


def _frames(text: str) -> list[tuple[int, str, dict[str, Any]]]:
    frames = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "id" in fields:
            frames.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return frames


async def test_a_submitted_job_trains_to_succeeded_and_every_read_shows_it(
    stack: Settings, make_api: MakeApi, api_settings: Settings
) -> None:
    api = await make_api(
        settings=api_settings.model_copy(
            update={
                "topic_prefix": stack.topic_prefix,
                "cassandra_keyspace": stack.cassandra_keyspace,
            }
        )
    )
    admin = await api.as_admin()
    trainer = await api.user_with_role(Role.TRAINER, admin)
    other = await api.user_with_role(Role.TRAINER, admin)
    with receiver() as hook:
        async with watching(api.app.state.resources) as watcher:
            body = {
                "preset": "tiny",
                "max_steps": STEPS,
                "callback_url": hook.url,
                "hyperparameters": {"learning_rate": 0.005},
            }
            created = await api.client.post("/api/v1/training/jobs", json=body, headers=trainer)
            assert created.status_code == 202, created.text
            location, model_id = created.headers["Location"], created.json()["model_id"]
            job = await _poll(api, location, trainer, lambda j: j["status"] == "SUCCEEDED", 150)
            await _poll(api, location, trainer, lambda j: True, 1)
            for _ in range(100):
                if hook.calls:
                    break
                await asyncio.sleep(0.1)
            await watcher.drain()
    assert (job["step"], job["owner"]) == (STEPS, job["owner"])
    assert job["checkpoint_uri"]

    listed = await api.client.get(
        "/api/v1/training/jobs",
        headers=trainer,
        params={"owner": job["owner"], "status": "SUCCEEDED"},
    )
    assert [j["job_id"] for j in listed.json()["items"]] == [job["job_id"]]

    metrics = (await api.client.get(f"{location}/metrics", headers=trainer)).json()
    assert [p["step"] for p in metrics["steps"]] == list(range(1, STEPS + 1))
    assert all(p["loss"] > 0 and p["lr"] is not None for p in metrics["steps"])

    log = await api.client.get(f"{location}/logs", headers=trainer)
    assert log.headers["content-type"].startswith("text/event-stream")
    frames = _frames(log.text)
    assert [seq for seq, _, _ in frames] == list(range(1, len(frames) + 1))
    assert (frames[0][1], frames[-1][1]) == ("JobSubmitted", "JobSucceeded")
    resumed = _frames(
        (await api.client.get(f"{location}/logs", headers={**trainer, "Last-Event-ID": "3"})).text
    )
    assert resumed == frames[3:]
    done = await api.client.get(
        f"{location}/logs", headers={**trainer, "Last-Event-ID": str(frames[-1][0])}
    )
    assert _frames(done.text) == []

    model = await _poll(
        api, f"/api/v1/models/{model_id}", trainer, lambda m: m["status"] == "READY", 30
    )
    assert model["checkpoint_step"] == STEPS
    versions = (await api.client.get(f"/api/v1/models/{model_id}/versions", headers=trainer)).json()
    assert [(v["version"], v["step"], v["job_id"]) for v in versions] == [(1, STEPS, job["job_id"])]
    status = (await api.client.get(f"/api/v1/models/{model_id}/status", headers=trainer)).json()
    assert status["servable"] is True

    assert len(hook.calls) == 1
    call = hook.calls[0]
    assert verify(
        WEBHOOK_SECRET.encode(), call.headers[TIMESTAMP], call.body, call.headers[SIGNATURE]
    )
    assert json.loads(call.body)["status"] == "SUCCEEDED"
    assert json.loads(call.body)["job_id"] == job["job_id"]

    stranger = await api.client.post(f"{location}/stop", headers=other)
    assert stranger.status_code == 403
    finished = await api.client.post(f"{location}/stop", headers=trainer)
    assert finished.status_code == 409
    assert finished.json()["details"]["status"] == "SUCCEEDED"
