"""The kernel worker: QRAF state commands (``qllm.commands.kernels``, key state id) → state events.

``CreateState`` and ``DeleteState`` decide one event each; a state created from data (v2
amplitudes) has its arrays saved at once, and its ``StateCreated`` rebuilds them on a worker that
has no file for it. ``ApplyStateOperation`` decides
``StateOperationStarted``, runs the operation in a thread (``qraf``: CuPy on a GPU, NumPy on the
CPU), saves the state's arrays, then decides ``StateOperationApplied`` with the metrics (or
``StateOperationFailed`` with the kernel's error). Every event's ``causation_id`` is the
consumed command, so a redelivered command is recognised in the stream: finished work is only
published again, a started operation is run to its end.

Per-handler choice (STYLE.md): this handles commands from the outside, so an undecodable message
or a command its state refuses (``IllegalTransition``) is dead-lettered with the reason; a
kernel error on the state's data is a fact (``StateOperationFailed``), not poison.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from aiokafka import TopicPartition

from consumers.errors import Poison
from consumers.journal import Folded, Journal
from consumers.loop import Pending
from consumers.qraf import StateArrays, apply, initial_arrays
from consumers.wire import decode_command
from kernels.errors import KernelError
from schemas.catalog import aggregate_named
from schemas.codec import Codec
from schemas.errors import IllegalTransition
from schemas.records import Command, Event, command
from schemas.states import (
    ApplyStateOperation,
    CompleteStateOperation,
    CreateState,
    DeleteState,
    FailStateOperation,
    QraftState,
    StateCreated,
    StateOperationStarted,
)
from streams.deadletter import Message

ACCEPTED = (CreateState, ApplyStateOperation, DeleteState)
STATE = aggregate_named("state")


class KernelHandler:
    def __init__(self, journal: Journal, codec: Codec, arrays: StateArrays, worker_id: str) -> None:
        self._journal, self._codec, self._arrays, self._worker = journal, codec, arrays, worker_id
        self.applied = 0

    async def handle(self, message: Message) -> Pending | None:
        cmd = decode_command(self._codec, message, ACCEPTED)
        folded = await self._journal.load(cmd.stream_id, STATE)
        done = folded.caused_by(cmd.event_id)
        if isinstance(cmd, ApplyStateOperation) and len(done) == 1:
            await self._journal.republish(done)
            await self._run(folded, cmd)  # started before a crash: finish it
        elif done:
            await self._journal.republish(done)  # a redelivery: the facts are already stored
        else:
            await self._execute(folded, cmd, cmd)
            if isinstance(cmd, ApplyStateOperation):
                await self._run(folded, cmd)
            elif isinstance(cmd, DeleteState):
                await asyncio.to_thread(self._arrays.delete, cmd.stream_id)
            elif isinstance(cmd, CreateState) and cmd.real:
                arrays = initial_arrays(cmd.stream_id, cmd.dimension, cmd.real, cmd.imag)
                await asyncio.to_thread(self._arrays.save, cmd.stream_id, arrays)
        return None

    async def _execute(self, folded: Folded, cmd: Command, cause: Command) -> list[Event]:
        def caused(event: Event) -> Event:
            return replace(event, causation_id=cause.event_id)

        try:
            return await self._journal.execute(folded, STATE, cmd, caused)
        except IllegalTransition as exc:
            raise Poison("IllegalTransition", str(exc), folded.state.status) from exc

    async def _run(self, folded: Folded, cmd: ApplyStateOperation) -> None:
        state: QraftState = folded.state
        assert isinstance(folded.events[-1], StateOperationStarted)
        try:
            created = folded.events[0]
            assert isinstance(created, StateCreated)
            metrics = await asyncio.to_thread(self._compute, state, created, cmd)
            outcome: Command = command(
                CompleteStateOperation, cmd.stream_id, self._worker,
                operation=cmd.operation, metrics=metrics,
            )  # fmt: skip
        except KernelError as exc:
            outcome = command(
                FailStateOperation, cmd.stream_id, self._worker,
                operation=cmd.operation, reason=f"{type(exc).__name__}: {exc}",
            )  # fmt: skip
        await self._execute(folded, outcome, cmd)
        self.applied += 1

    def _compute(
        self, state: QraftState, created: StateCreated, cmd: ApplyStateOperation
    ) -> dict[str, float]:
        arrays = self._arrays.load(state.state_id, state.dimension, created.real, created.imag)
        updated, metrics = apply(cmd.operation, arrays, dict(cmd.params))
        self._arrays.save(state.state_id, updated)
        return metrics

    async def release(self, partitions: set[TopicPartition]) -> None:
        return None  # nothing runs across messages

    async def close(self) -> None:
        return None
