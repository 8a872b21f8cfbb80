"""The kernel worker against the real stack: QRAF commands in, contiguous state streams out."""

from __future__ import annotations

import numpy as np
import pytest

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.qraf import StateArrays
from producers.publisher import Publisher
from producers.topics import KERNELS
from schemas.records import command
from schemas.states import ApplyStateOperation, CreateState, DeleteState
from tests.consumers.support import (
    event_store,
    publish,
    running_worker,
    types_of,
    wait_for_stream,
    wait_until,
)

pytestmark = pytest.mark.stack


async def test_state_operations_run_and_publish_applied_events_with_metrics(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    sid = "state-ops"
    ops = ["quantize", "optimize_density", "correct_errors", "compress_memory"]
    await publish(
        stack,
        command(CreateState, sid, "alice", owner="alice", dimension=16),
        *(
            command(ApplyStateOperation, sid, "alice", operation=op, params={"bits": 4.0})
            for op in ops
        ),
        command(DeleteState, sid, "alice"),
    )
    async with running_worker("kernels", stack, worker_settings), event_store(stack) as store:
        events = await wait_for_stream(store, sid, lambda es: "StateDeleted" in types_of(es))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert types_of(events) == [
        "StateCreated",
        *["StateOperationStarted", "StateOperationApplied"] * 4,
        "StateDeleted",
    ]
    applied = [e for e in events if e.type == "StateOperationApplied"]
    assert [e.operation for e in applied] == ops  # type: ignore[attr-defined]
    assert 0.0 < applied[0].metrics["sqnr_db"] < 100.0  # type: ignore[attr-defined]
    assert 0.0 < applied[1].metrics["purity"] <= 1.0 + 1e-9  # type: ignore[attr-defined]


async def test_poison_and_refused_commands_are_dead_lettered_and_the_next_command_applies(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    sid = "state-poison"
    await publish(stack, command(CreateState, "other", "bob", owner="bob", dimension=4))
    async with Publisher(stack) as publisher:
        await publisher.publish_raw(stack.topic(KERNELS), sid.encode(), b"not avro at all")
    await publish(
        stack,
        command(ApplyStateOperation, sid, "bob", operation="quantize"),  # no such state yet
        command(CreateState, sid, "bob", owner="bob", dimension=8),
    )
    async with running_worker("kernels", stack, worker_settings) as loop:
        async with event_store(stack) as store:
            events = await wait_for_stream(store, sid, lambda es: len(es) >= 1)
        await wait_until(lambda: loop.dead_lettered >= 2, 30)
    assert types_of(events) == ["StateCreated"]
    assert loop.dead_lettered == 2


async def test_dead_letters_carry_the_reason_and_the_original_bytes(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    from aiokafka import AIOKafkaConsumer

    from producers.topics import DEADLETTER

    await publish(stack, command(CreateState, "warm", "bob", owner="bob", dimension=4))
    async with Publisher(stack) as publisher:
        await publisher.publish_raw(stack.topic(KERNELS), b"s9", b"\x00garbage")
    async with running_worker("kernels", stack, worker_settings) as loop:
        await wait_until(lambda: loop.dead_lettered >= 1, 30)
    consumer = AIOKafkaConsumer(stack.topic(DEADLETTER), bootstrap_servers=stack.kafka_bootstrap,
                                group_id=None, auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        message = await consumer.getone()
    finally:
        await consumer.stop()
    headers = dict(message.headers)
    assert message.value == b"\x00garbage" and message.key == b"s9"
    assert (
        b"magic" in headers["reason"] and headers["original_topic"] == stack.topic(KERNELS).encode()
    )


async def test_two_workers_of_a_group_split_the_partitions(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    second = worker_settings.model_copy(update={"worker_id": worker_settings.worker_id + "-2"})
    async with (
        running_worker("kernels", stack, worker_settings) as one,
        running_worker("kernels", stack, second) as two,
    ):
        await wait_until(lambda: len(one.owned) + len(two.owned) == 6 and
                         bool(one.owned) and bool(two.owned), 60)  # fmt: skip
        assert not one.owned & two.owned


async def test_state_created_from_data_holds_that_vector_even_on_a_worker_without_its_file(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    sid, arrays = "state-data", StateArrays(worker_settings.state_dir)
    create = command(CreateState, sid, "alice", owner="alice", dimension=4,
                     real=[3.0, 0.0, 0.0, 0.0], imag=[0.0, 4.0, 0.0, 0.0])  # fmt: skip
    await publish(stack, create)
    async with running_worker("kernels", stack, worker_settings), event_store(stack) as store:
        await wait_for_stream(store, sid, lambda es: "StateCreated" in types_of(es))
        assert np.allclose(arrays.load(sid, 4).psi, [0.6, 0.8j, 0, 0])
        arrays.delete(sid)  # as if the operation ran on another worker's disk
        await publish(stack, command(ApplyStateOperation, sid, "alice", operation="correct_errors"))
        await wait_for_stream(store, sid, lambda es: "StateOperationApplied" in types_of(es))
    assert np.allclose(arrays.load(sid, 4).psi, [0.6, 0.8j, 0, 0])
