"""The model handler against the real stack: model commands in, the model stream out."""

from __future__ import annotations

import pytest

from compose.settings import Settings
from consumers.config import WorkerSettings
from producers.publisher import Publisher
from producers.topics import MODEL_COMMANDS
from schemas.models import (
    ConfigureModelExtension,
    ModelExtensionConfigured,
    ModelUpdated,
    RegisterModel,
    RetireModel,
    UpdateModel,
)
from schemas.records import command
from tests.consumers.support import (
    event_store,
    publish,
    running_worker,
    types_of,
    wait_for_stream,
    wait_until,
)

pytestmark = pytest.mark.stack


async def test_register_update_configure_and_retire_decide_one_event_each_in_order(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    mid = "model-life"
    await publish(
        stack,
        command(RegisterModel, mid, "ann", owner="ann", preset="tiny", description="first"),
        command(UpdateModel, mid, "ann", tags=["demo", "cpu"]),
        command(
            ConfigureModelExtension,
            mid,
            "ann",
            extension="memory",
            enabled=True,
            settings={"memory_slots": "64"},
        ),
        command(RetireModel, mid, "ann", reason="done"),
    )
    async with running_worker("models", stack, worker_settings), event_store(stack) as store:
        events = await wait_for_stream(store, mid, lambda es: "ModelRetired" in types_of(es))
    assert types_of(events) == [
        "ModelRegistered", "ModelUpdated", "ModelExtensionConfigured", "ModelRetired",
    ]  # fmt: skip
    assert [e.seq for e in events] == [1, 2, 3, 4]
    updated, configured = events[1], events[2]
    assert isinstance(updated, ModelUpdated) and updated.description == "first"
    assert updated.tags == ["demo", "cpu"]
    assert isinstance(configured, ModelExtensionConfigured)
    assert configured.settings == {"memory_slots": "64"} and configured.enabled


async def test_refused_and_undecodable_commands_are_dead_lettered_and_the_next_one_applies(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    mid = "model-refused"
    async with Publisher(stack) as publisher:
        await publisher.publish_raw(stack.topic(MODEL_COMMANDS), mid.encode(), b"not avro")
    await publish(
        stack,
        command(RetireModel, mid, "bob"),  # no such model yet
        command(RegisterModel, mid, "bob", owner="bob", preset="tiny"),
        command(RegisterModel, mid, "bob", owner="eve", preset="tiny"),  # exists already
        command(UpdateModel, mid, "bob", description="kept going"),
    )
    async with running_worker("models", stack, worker_settings) as loop:
        async with event_store(stack) as store:
            events = await wait_for_stream(store, mid, lambda es: len(es) >= 2)
        await wait_until(lambda: loop.dead_lettered >= 3, 30)
    assert types_of(events) == ["ModelRegistered", "ModelUpdated"]
    assert loop.dead_lettered == 3


async def test_a_redelivered_command_decides_nothing_new(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    mid = "model-redelivered"
    register = command(RegisterModel, mid, "ann", owner="ann", preset="tiny")
    update = command(UpdateModel, mid, "ann", description="once")
    marker = command(ConfigureModelExtension, mid, "ann", extension="observer", enabled=True)
    await publish(stack, register, update, update, register, marker)
    async with (
        running_worker("models", stack, worker_settings) as loop,
        event_store(stack) as store,
    ):
        events = await wait_for_stream(
            store, mid, lambda es: "ModelExtensionConfigured" in types_of(es)
        )
    assert types_of(events) == ["ModelRegistered", "ModelUpdated", "ModelExtensionConfigured"]
    assert loop.dead_lettered == 0
