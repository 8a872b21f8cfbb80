"""Wiring a worker: its resources (event store, publisher, dead letters), handler and loop.

Resources are opened in ``async with`` order and closed in reverse, so a worker that fails to
start leaves nothing open. ``run_worker`` returns when ``stop`` is set (SIGTERM in ``__main__``);
the loop then lets the handler checkpoint, commits and leaves the group.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.journal import Journal
from consumers.loop import Handler, WorkerLoop
from producers.publisher import Publisher
from producers.topics import DEADLETTER, INFERENCE, KERNELS, MODEL_COMMANDS, TRAINING, provision
from schemas.codec import Codec, default_codec
from streams.deadletter import KafkaDeadLetters
from streams.store.cassandra import CassandraEventStore, StoreOptions

ROLES = ("training", "inference", "kernels", "models")
TOPIC_OF = {"training": TRAINING, "inference": INFERENCE, "kernels": KERNELS,
            "models": MODEL_COMMANDS}  # fmt: skip


@dataclass
class Resources:
    settings: Settings
    worker: WorkerSettings
    codec: Codec
    publisher: Publisher
    dead: KafkaDeadLetters
    journal: Journal | None


@contextlib.asynccontextmanager
async def resources(
    settings: Settings, worker: WorkerSettings, with_store: bool
) -> AsyncIterator[Resources]:
    await provision(settings)
    codec = default_codec()
    async with Publisher(settings) as publisher:
        dead = KafkaDeadLetters(publisher, settings.topic(DEADLETTER))
        if not with_store:
            yield Resources(settings, worker, codec, publisher, dead, None)
            return
        store = await CassandraEventStore.open(StoreOptions.from_settings(settings))
        try:
            journal = Journal(store, publisher, codec)
            yield Resources(settings, worker, codec, publisher, dead, journal)
        finally:
            await store.close()


def use_torch_threads(worker: WorkerSettings) -> None:
    """torch's intra-op threads for this process (``WorkerSettings.torch_threads``; 0 leaves
    torch's default). Process-wide: the entry point calls it, not ``run_worker``."""
    if worker.torch_threads:
        import torch

        torch.set_num_threads(worker.torch_threads)


def build_handler(role: str, res: Resources) -> Handler:
    if role == "kernels":
        from consumers.kernel_worker import KernelHandler
        from consumers.qraf import StateArrays

        assert res.journal is not None
        return KernelHandler(res.journal, res.codec, StateArrays(res.worker.state_dir),
                             res.worker.worker_id)  # fmt: skip
    if role == "training":
        from consumers.training.worker import TrainingHandler

        assert res.journal is not None
        return TrainingHandler(res.journal, res.codec, res.worker, res.settings.data_root)
    if role == "models":
        from consumers.model_handler import ModelHandler

        assert res.journal is not None
        return ModelHandler(res.journal, res.codec)
    if role == "inference":
        from consumers.inference.worker import build_inference_handler

        return build_inference_handler(res)
    raise ValueError(f"unknown role {role!r}; one of {ROLES}")


async def run_worker(
    role: str,
    settings: Settings,
    worker: WorkerSettings,
    stop: asyncio.Event,
    group_id: str | None = None,
    on_loop: Callable[[WorkerLoop], None] | None = None,
) -> None:
    """Run one worker of ``role`` until ``stop`` is set."""
    async with resources(settings, worker, with_store=role != "inference") as res:
        handler = build_handler(role, res)
        loop = WorkerLoop(role, [settings.topic(TOPIC_OF[role])], settings, worker, handler,
                          res.dead, group_id)  # fmt: skip
        if on_loop is not None:
            on_loop(loop)
        await loop.run(stop)
