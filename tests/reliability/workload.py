"""The steady stream of work every scenario runs under, and its tally.

``histories`` decides realistic event streams with the pure lifecycles (jobs, models, QRAF
states: all three event topics). ``SteadyLoad`` publishes them with the idempotent ``Publisher``
at a fixed rate, round-robin over the streams, each stream in ``seq`` order, from one or several
concurrent clients (``lanes``: as an API serving concurrent requests would). A publish that raises
the typed retriable ``BrokerUnavailable`` is counted (with how long it took to fail) and the SAME
event is published again after a pause, as a client that got no acknowledgement would; the next
event of a stream is sent only after the previous one was acknowledged. So every acknowledged
event must take effect exactly once downstream, whatever happened to the servers meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from producers.errors import BrokerUnavailable
from producers.publisher import Publisher
from schemas import jobs, models, states
from schemas.catalog import aggregate_of
from schemas.records import Command, Event, command

Plan = list[tuple[type[Command], dict[str, Any]]]


def _decide(first_event: type[Event], stream_id: str, plan: Plan) -> list[Event]:
    aggregate = aggregate_of(first_event)
    state, events = aggregate.initial(), []
    for cls, payload in plan:
        for event in aggregate.decide(state, command(cls, stream_id, "reliability", **payload)):
            state = aggregate.evolve(state, event)
            events.append(event)
    return events


def job_history(job_id: str, steps: int) -> list[Event]:
    plan: Plan = [
        (jobs.StartTraining,
         {"owner": "ann", "model_id": "m", "preset": "tiny", "max_steps": steps + 1}),
        (jobs.ClaimJob, {"worker_id": "w1"}),
        (jobs.MarkJobRunning, {"worker_id": "w1"}),
        *[(jobs.RecordTrainingStep, {"step": i, "loss": 1.0 / i}) for i in range(1, steps + 1)],
    ]  # fmt: skip
    return _decide(jobs.JobSubmitted, job_id, plan)


def model_history(model_id: str, rounds: int) -> list[Event]:
    plan: Plan = [(models.RegisterModel, {"owner": "bob", "preset": "tiny"})]
    for i in range(1, rounds + 1):
        plan += [
            (models.BeginModelTraining, {"job_id": f"job-{i}"}),
            (models.PublishCheckpoint,
             {"job_id": f"job-{i}", "checkpoint_uri": f"file:///c/{i}", "step": i}),
        ]  # fmt: skip
    return _decide(models.ModelRegistered, model_id, plan)


def state_history(state_id: str, rounds: int) -> list[Event]:
    plan: Plan = [(states.CreateState, {"owner": "cat", "dimension": 8})]
    for _ in range(rounds):
        plan += [
            (states.ApplyStateOperation, {"operation": "quantize", "params": {"bits": 4.0}}),
            (states.CompleteStateOperation, {"operation": "quantize", "metrics": {"e": 0.01}}),
        ]
    return _decide(states.StateCreated, state_id, plan)


def histories(tag: str, streams: int, length: int) -> dict[str, list[Event]]:
    """``streams`` streams (jobs, models, states in turn) of about ``length`` events each."""
    made: dict[str, list[Event]] = {}
    for i in range(streams):
        kind = i % 3
        if kind == 0:
            made[f"job-{tag}-{i}"] = job_history(f"job-{tag}-{i}", max(1, length - 3))
        elif kind == 1:
            made[f"model-{tag}-{i}"] = model_history(f"model-{tag}-{i}", max(1, length // 2))
        else:
            made[f"state-{tag}-{i}"] = state_history(f"state-{tag}-{i}", max(1, length // 2))
    return made


def interleaved(streams: dict[str, list[Event]]) -> list[Event]:
    """Round-robin over the streams, each stream in ``seq`` order."""
    order: list[Event] = []
    longest = max(len(events) for events in streams.values())
    for index in range(longest):
        order += [events[index] for events in streams.values() if index < len(events)]
    return order


@dataclass
class Tally:
    """What the load did: attempts, acknowledgements, retriable failures and their durations."""

    sent: int = 0  # publish attempts
    accepted: list[Event] = field(default_factory=list)  # acknowledged, once per event
    refused: int = 0  # attempts that raised BrokerUnavailable
    slowest_refusal_s: float = 0.0
    last_refusal: str = ""


class SteadyLoad:
    """``async with SteadyLoad(publisher, events, rate)`` publishes in the background."""

    def __init__(
        self, publisher: Publisher, events: list[Event], rate_per_s: float,
        retry_pause_s: float = 0.5, lanes: int = 1,
    ) -> None:  # fmt: skip
        self._publisher, self._events, self._lanes = publisher, events, lanes
        self._interval, self._retry_pause_s = lanes / rate_per_s, retry_pause_s
        self.tally = Tally()
        self._task: asyncio.Task[None] | None = None
        self._gate = asyncio.Event()
        self._gate.set()

    async def __aenter__(self) -> SteadyLoad:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def pause(self) -> None:
        self._gate.clear()

    def resume(self) -> None:
        self._gate.set()

    @property
    def done(self) -> bool:
        return len(self.tally.accepted) == len(self._events)

    async def until(self, check: Callable[[Tally], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not check(self.tally):
            if self._task is not None and self._task.done():
                self._task.result()  # surface a crash of the load itself
                if not check(self.tally):
                    raise AssertionError(f"load ended before the condition: {self.tally}")
            if time.monotonic() > deadline:
                t = self.tally
                raise TimeoutError(
                    f"load condition not met within {timeout_s}s: sent={t.sent} "
                    f"accepted={len(t.accepted)}/{len(self._events)} "
                    f"refused={t.refused} last refusal: {t.last_refusal}"
                )
            await asyncio.sleep(0.05)

    async def finished(self, timeout_s: float) -> Tally:
        await self.until(lambda _: self.done, timeout_s)
        return self.tally

    async def _run(self) -> None:
        """``lanes`` concurrent clients, each owning some streams (a stream stays in order)."""
        streams = list(dict.fromkeys(e.stream_id for e in self._events))
        lane_of = {stream_id: i % self._lanes for i, stream_id in enumerate(streams)}
        await asyncio.gather(*(
            self._lane([e for e in self._events if lane_of[e.stream_id] == lane])
            for lane in range(self._lanes)
        ))  # fmt: skip

    async def _lane(self, events: list[Event]) -> None:
        for event in events:
            await self._publish_until_acknowledged(event)
            await asyncio.sleep(self._interval)
            await self._gate.wait()

    async def _publish_until_acknowledged(self, event: Event) -> None:
        while True:
            self.tally.sent += 1
            began = time.monotonic()
            try:
                await self._publisher.publish(event)
            except BrokerUnavailable as exc:
                self.tally.last_refusal = exc.reason[:300]
                took = time.monotonic() - began
                self.tally.refused += 1
                self.tally.slowest_refusal_s = max(self.tally.slowest_refusal_s, took)
                await asyncio.sleep(self._retry_pause_s)
                continue
            self.tally.accepted.append(event)
            return
