"""SIGKILL of the stream processor mid-stream: a restarted one resumes from committed offsets.

Under a steady load on all three event topics, the ``python -m streams worker`` subprocess is
SIGKILLed (no shutdown, no last commit) once a third of the events are applied and a quarter
committed; a new processor is started while the load goes on. The events applied but not yet
committed at the kill are delivered again to the new one: the store must write nothing new for
them and the projection must skip them, so every stream is contiguous, each event stored, indexed
and published once, and the projection equals the replay from Cassandra.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from compose.settings import Settings
from producers.publisher import Publisher
from producers.topics import provision
from tests.reliability.evidence import (
    Counts,
    LiveChannels,
    applied_total,
    audit,
    committed,
    opened_store,
    until_applied,
    until_committed,
    until_projected,
)
from tests.reliability.services import Service
from tests.reliability.workload import SteadyLoad, histories, interleaved

pytestmark = [pytest.mark.reliability, pytest.mark.stack, pytest.mark.slow]


async def test_sigkilled_stream_processor_resumes_from_committed_offsets_without_duplicates(
    scenario_settings: Settings, tmp_path: Path
) -> None:
    s = scenario_settings
    await provision(s)
    streams = histories(uuid.uuid4().hex[:6], streams=45, length=12)
    order = interleaved(streams)
    ids = list(streams)
    group = f"{s.topic_prefix}qllm-streams"  # the processor's consumer group (its app id)
    redis = Redis.from_url(s.redis_url)
    first = Service.stream_processor(s, tmp_path, "processor-a").start()
    second = Service.stream_processor(s, tmp_path, "processor-b")
    try:
        async with Publisher(s) as publisher, LiveChannels(redis, s) as live, \
                SteadyLoad(publisher, order, rate_per_s=80) as load:  # fmt: skip
            await until_applied(redis, s, ids, len(order) // 3, timeout_s=120)
            await until_committed(s, group, at_least=len(order) // 4, timeout_s=60)
            first.kill()
            applied_at_kill = await applied_total(redis, s, ids)
            committed_at_kill = await committed(s, group)
            second.start()
            tally = await load.finished(timeout_s=120)
            await until_projected(redis, s, streams, timeout_s=120)
        async with opened_store(s) as store:
            found = await audit(store, redis, s, streams, live.seen)
        try:
            committed_at_end = await until_committed(s, group, len(order), timeout_s=30)
        except TimeoutError:
            committed_at_end = await committed(s, group)
        still_running = second.alive
    finally:
        first.stop()
        second.stop()
        await redis.aclose()
    counts = Counts("stream-processor-sigkill", tally.sent, len(tally.accepted), found.stored,
                    found.applied, len(found.lost), len(found.duplicated),
                    {"applied_at_kill": applied_at_kill, "committed_at_kill": committed_at_kill,
                     "redelivered": applied_at_kill - committed_at_kill})  # fmt: skip
    print(counts.line())
    assert applied_at_kill >= committed_at_kill, "offsets were committed before the effect"
    assert counts.accepted == len(order) == found.stored == found.applied
    assert found.lost == [] and found.duplicated == [], (found.lost[:5], found.duplicated[:5])
    assert committed_at_end >= len(order)  # the new processor committed all it consumed
    assert still_running, second.tail()
