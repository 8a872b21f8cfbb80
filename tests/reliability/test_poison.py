"""Poison on every command and event topic: dead-lettered with the reason, the next good message
is processed.

Each topic gets the same five poisons, then one good message: bytes that are not Avro, the magic
bytes with an unknown schema fingerprint, a good record cut short, a well-formed record of the
wrong kind (a command on an event topic, an event on a command topic) and a record without a
value (a tombstone). The stream processor covers the event topics; the training, inference and
kernel workers the command topics. Every poison must reach ``qllm.deadletter`` with its original
bytes and key, ``reason`` and ``error`` headers and its origin (``original_topic``,
``original_offset``), and the good message after it must take effect.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from compose.settings import Settings
from consumers.config import WorkerSettings
from producers.publisher import Ack, Publisher
from producers.topics import DEADLETTER, EVENT_TOPICS, MODEL_COMMANDS, provision, topic_for
from schemas import jobs, models, states
from schemas.codec import default_codec
from schemas.inference import RunInference
from schemas.records import Record, command
from tests.consumers.support import event_store, read_results, running_worker, wait_for_stream
from tests.reliability.evidence import until_projected
from tests.reliability.services import Service
from tests.reliability.workload import job_history, model_history, state_history

pytestmark = [pytest.mark.reliability, pytest.mark.stack, pytest.mark.slow]
CODEC = default_codec()


def poisons(
    good: Record, wrong_kind: Record, tombstone: bool = True
) -> list[tuple[str, bytes | None]]:
    encoded = CODEC.encode(good)
    return [
        ("not avro", b"not avro at all"),
        ("unknown fingerprint", b"\xc3\x01" + b"\x00\x11\x22\x33\x44\x55\x66\x77" + b"junk"),
        ("truncated", encoded[: len(encoded) // 2]),
        ("wrong kind", CODEC.encode(wrong_kind)),
        *([("tombstone", None)] if tombstone else []),
    ]


async def send_poisons(s: Settings, topic: str, key: bytes, good: Record,
                       wrong: Record, tombstone: bool = True) -> dict[int, str]:  # fmt: skip
    """Publish the poisons then ``good``; the poisons' offsets and names."""
    sent: dict[int, str] = {}
    async with Publisher(s) as publisher:
        for name, value in poisons(good, wrong, tombstone):
            ack: Ack = await publisher.publish_raw(topic, key, value)  # type: ignore[arg-type]
            sent[ack.offset] = name
        await publisher.publish(good)
    return sent


async def dead_letters(s: Settings, wanted: int, timeout_s: float = 60) -> list[Any]:
    consumer = AIOKafkaConsumer(s.topic(DEADLETTER), bootstrap_servers=s.kafka_bootstrap,
                                group_id=None, auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    found: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < wanted and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found += messages
    finally:
        await consumer.stop()
    return found


def check_dead_lettered(letters: list[Any], topic: str, sent: dict[int, str],
                        values: dict[str, bytes | None]) -> list[str]:  # fmt: skip
    """What is wrong with the dead letters of ``topic`` (empty: all there, well formed)."""
    problems = []
    mine = {}
    for m in letters:
        h = {k: v.decode() for k, v in m.headers}
        if h.get("original_topic") == topic:
            mine[int(h["original_offset"])] = (m, h)
    for offset, name in sent.items():
        if offset not in mine:
            problems.append(f"{topic}@{offset} ({name}) not dead-lettered")
            continue
        m, h = mine[offset]
        if not h.get("reason") or not h.get("error"):
            problems.append(f"{topic}@{offset} ({name}) without reason/error: {h}")
        if m.value != values[name]:
            problems.append(f"{topic}@{offset} ({name}) bytes changed")
    return problems


# regression (with-tombstone): a record without a value used to raise TypeError in the codec and
# crash the stream processor's agent for good; it is now a DecodeError and is dead-lettered.
@pytest.mark.parametrize(
    "tombstone",
    [False, True],
    ids=["decodable-poisons", "with-tombstone"],
)
async def test_poison_on_every_event_topic_is_dead_lettered_and_the_next_event_applies(
    scenario_settings: Settings, tmp_path: Path, tombstone: bool
) -> None:
    s = scenario_settings
    await provision(s)
    tag = uuid.uuid4().hex[:6]
    goods = {"job": job_history(f"job-{tag}", 1)[:1], "model": model_history(f"m-{tag}", 1)[:1],
             "state": state_history(f"s-{tag}", 1)[:1]}  # fmt: skip
    wrong = command(jobs.CancelJob, f"job-{tag}", "mallory")
    processor = Service.stream_processor(s, tmp_path, "processor").start()
    redis = Redis.from_url(s.redis_url)
    sent: dict[str, dict[int, str]] = {}
    values: dict[str, dict[str, bytes | None]] = {}
    try:
        for [good] in goods.values():
            topic = topic_for(good, s)
            sent[topic] = await send_poisons(s, topic, good.stream_id.encode(), good, wrong,
                                             tombstone)  # fmt: skip
            values[topic] = dict(poisons(good, wrong, tombstone))
        await until_projected(redis, s, {g[0].stream_id: g for g in goods.values()}, 90)
        letters = await dead_letters(s, sum(len(v) for v in sent.values()))
        still_running = processor.alive
    finally:
        processor.stop()
        await redis.aclose()
    problems = [p for t in sent for p in check_dead_lettered(letters, t, sent[t], values[t])]
    print(
        f"RELIABILITY poison-events: topics={len(sent)} poisons={sum(map(len, sent.values()))} "
        f"dead_lettered={len(letters)} good_applied={len(goods)} problems={len(problems)}"
    )
    assert set(sent) == {s.topic(t) for t in EVENT_TOPICS}
    assert problems == []
    assert still_running, processor.tail()


def worker_settings(tmp_path: Path, role: str) -> WorkerSettings:
    return WorkerSettings(worker_id=f"{role}-{uuid.uuid4().hex[:6]}",
                          checkpoint_url=str(tmp_path / "checkpoints"),
                          state_dir=str(tmp_path / "states"), session_timeout_ms=6000,
                          heartbeat_interval_ms=1000, batch_size=4, seq_len=32,
                          corpus_documents=12, eval_tokens=64)  # fmt: skip


async def test_poison_on_every_worker_command_topic_is_dead_lettered_and_the_next_command_runs(
    scenario_settings: Settings, tmp_path: Path
) -> None:
    s = scenario_settings
    await provision(s)
    tag = uuid.uuid4().hex[:6]
    event = job_history(f"job-{tag}", 1)[0]
    cases: list[tuple[str, Record]] = [
        ("kernels", command(states.CreateState, f"s-{tag}", "ann", owner="ann", dimension=4)),
        ("training", command(jobs.StartTraining, f"job-{tag}", "ann", owner="ann",
                             model_id=f"m-{tag}", preset="tiny", max_steps=1)),
        ("inference", command(RunInference, f"r-{tag}", "ann", model_id="preset:tiny",
                              prompt="def f(x):", max_tokens=2, temperature=0.0)),
    ]  # fmt: skip
    sent: dict[str, dict[int, str]] = {}
    values: dict[str, dict[str, bytes | None]] = {}
    for role, good in cases:
        topic = topic_for(good, s)
        key = getattr(good, "model_id", good.stream_id) if role == "inference" else good.stream_id
        sent[topic] = await send_poisons(s, topic, key.encode(), good, event)
        values[topic] = dict(poisons(good, event))
        async with running_worker(role, s, worker_settings(tmp_path, role)) as loop:
            if role == "inference":
                await read_results(s, lambda rs, g=good: any(r.stream_id == g.stream_id
                                                            for r, _ in rs), 120)  # fmt: skip
            else:
                async with event_store(s) as store:
                    await wait_for_stream(store, good.stream_id, lambda es: len(es) >= 1, 120)
            assert loop.dead_lettered == len(sent[topic]), (role, loop.dead_lettered)
    letters = await dead_letters(s, sum(len(v) for v in sent.values()))
    problems = [p for t in sent for p in check_dead_lettered(letters, t, sent[t], values[t])]
    print(
        f"RELIABILITY poison-commands: topics={len(sent)} "
        f"poisons={sum(map(len, sent.values()))} dead_lettered={len(letters)} "
        f"good_processed={len(cases)} problems={len(problems)}"
    )
    assert problems == []


async def test_poison_on_the_model_command_topic_is_dead_lettered_and_the_next_command_runs(
    scenario_settings: Settings, tmp_path: Path
) -> None:
    """The model handler (``python -m consumers models``) reads ``qllm.commands.models``."""
    s = scenario_settings
    await provision(s)
    good = command(models.RegisterModel, f"m-{uuid.uuid4().hex[:6]}", "ann", owner="ann",
                   preset="tiny")  # fmt: skip
    wrong = job_history("job-x", 1)[0]
    topic = s.topic(MODEL_COMMANDS)
    sent = await send_poisons(s, topic, good.stream_id.encode(), good, wrong)
    async with running_worker("models", s, worker_settings(tmp_path, "models")) as loop:
        async with event_store(s) as store:
            events = await wait_for_stream(store, good.stream_id, lambda es: len(es) >= 1, 120)
        dead_lettered = loop.dead_lettered
    letters = await dead_letters(s, len(sent))
    problems = check_dead_lettered(letters, topic, sent, dict(poisons(good, wrong)))
    print(
        f"RELIABILITY poison-model-commands: topics=1 poisons={len(sent)} "
        f"dead_lettered={dead_lettered} good_processed={len(events)} problems={len(problems)}"
    )
    assert [e.type for e in events] == ["ModelRegistered"]
    assert dead_lettered == len(sent) and problems == []
