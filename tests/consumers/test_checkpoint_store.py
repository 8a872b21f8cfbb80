"""Checkpoints mirrored to a non-local fsspec URL (``memory://``, an object store in-process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec
import pytest

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.training.checkpoints import CheckpointStore
from schemas.jobs import StartTraining
from schemas.records import command
from tests.consumers.support import event_store, publish, running_worker, types_of, wait_for_stream

pytestmark = pytest.mark.stack


async def test_job_on_a_remote_store_mirrors_every_checkpoint_and_another_machine_fetches_it(
    stack: Settings, worker_settings: WorkerSettings, tmp_path: Path, unique: str
) -> None:
    url = f"memory://qllm-{unique}/checkpoints"
    worker = worker_settings.model_copy(update={"checkpoint_url": url})
    start = command(StartTraining, "job-remote", "alice", owner="alice", model_id="m-remote",
                    preset="tiny", max_steps=4)  # fmt: skip
    await publish(stack, start)
    async with running_worker("training", stack, worker), event_store(stack) as store:
        events = await wait_for_stream(
            store, "job-remote", lambda es: "JobSucceeded" in types_of(es)
        )
    saved: list[Any] = [e for e in events if e.type == "CheckpointSaved"]
    assert saved and all(e.checkpoint_uri.startswith("memory://") for e in saved)
    memory = fsspec.filesystem("memory")
    for event in saved:
        assert memory.exists(f"{event.checkpoint_uri.removeprefix('memory://')}/model.safetensors")
    assert memory.exists(f"/qllm-{unique}/checkpoints/models/m-remote/model.safetensors")

    elsewhere = CheckpointStore(url, cache_dir=str(tmp_path / "other-machine"))
    fetched = elsewhere.fetch_latest("job-remote")
    assert fetched is not None and fetched.name == "step-00000004"
    assert (fetched / "model.safetensors").is_file()
    assert str(tmp_path / "other-machine") in str(fetched)
    bounded = elsewhere.fetch_latest("job-remote", at_most=3)  # as a recovery bounds it
    assert bounded is not None and bounded.name == "step-00000002"  # checkpoint_every=2
