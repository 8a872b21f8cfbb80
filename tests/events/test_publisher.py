"""The idempotent publisher on the real Kafka: ``publish_all`` sends a burst in order, acked."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from compose.settings import Settings
from producers.publisher import Publisher
from producers.topics import JOB_EVENTS, key_for, provision
from schemas import jobs
from schemas.codec import default_codec
from schemas.records import Event, command

pytestmark = pytest.mark.stack


def _history(job_id: str, steps: int) -> list[Event]:
    state, events = jobs.JobState(), []
    plan = [
        command(jobs.StartTraining, job_id, "ann", owner="ann", model_id="m", preset="tiny",
                max_steps=steps),
        command(jobs.ClaimJob, job_id, "w", worker_id="w"),
        command(jobs.MarkJobRunning, job_id, "w", worker_id="w"),
        *[command(jobs.RecordTrainingStep, job_id, "w", step=i, loss=1.0 / i)
          for i in range(1, steps + 1)],
    ]  # fmt: skip
    for cmd in plan:
        for event in jobs.decide(state, cmd):
            state = jobs.evolve(state, event)
            events.append(event)
    return events


async def _read(settings: Settings, topic: str, count: int) -> list[tuple[bytes, int, int, Event]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        out: list[tuple[bytes, int, int, Event]] = []
        while len(out) < count:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            for messages in batches.values():
                for m in messages:
                    event = default_codec().decode(m.value)
                    assert isinstance(event, Event)
                    out.append((m.key, m.partition, m.offset, event))
        return out
    finally:
        await consumer.stop()


async def test_publish_all_acks_every_record_and_each_stream_keeps_its_order(
    settings: Settings, kafka_bootstrap: str, unique: str
) -> None:
    own = settings.model_copy(update={"topic_prefix": f"pub{unique}."})
    await provision(own)
    a, b = _history(f"job-a-{unique}", 12), _history(f"job-b-{unique}", 5)
    burst = [e for pair in zip(a, b, strict=False) for e in pair] + a[len(b) :]  # interleaved
    async with Publisher(own) as publisher:
        assert await publisher.publish_all([]) == []
        acks = await publisher.publish_all(burst)

    assert len(acks) == len(burst)
    assert {ack.topic for ack in acks} == {own.topic(JOB_EVENTS)}
    stored = await _read(own, own.topic(JOB_EVENTS), len(burst))
    assert len(stored) == len(burst)
    where = {(p, o): e for _, p, o, e in stored}
    # every ack names the offset where that very record is stored
    assert [where[(ack.partition, ack.offset)] for ack in acks] == burst
    for history in (a, b):  # one key, one partition, in the order published
        key = key_for(history[0])
        got = sorted((o, e) for k, _, o, e in stored if k == key)
        assert [e for _, e in got] == history
