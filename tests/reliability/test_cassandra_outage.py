"""Cassandra stopped and restarted (private stack) while events flow: the sink retries, no event
is lost, and afterwards the projection equals a replay from Cassandra.

The stream processor stores an event before it projects it and acks (commits) only after both,
so while Cassandra is down it retries the append with bounded backoff (``streams.retry``) and
the events wait in Kafka; none may be dead-lettered, skipped or applied twice once it is back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from compose.settings import Settings
from compose.stack import Stack
from producers.publisher import Publisher
from producers.topics import provision
from tests.reliability.evidence import (
    Counts,
    LiveChannels,
    applied_total,
    audit,
    opened_store,
    until_applied,
    until_projected,
)
from tests.reliability.services import Service, stop_server
from tests.reliability.workload import SteadyLoad, histories, interleaved

pytestmark = [pytest.mark.reliability, pytest.mark.stack, pytest.mark.slow]
RETRY_LINE = "event-store append failed"  # streams.retry's warning for the store step


async def test_cassandra_restart_the_sink_retries_and_loses_nothing(
    stack: Stack, scenario_settings: Settings, tmp_path: Path
) -> None:
    s = scenario_settings
    await provision(s)
    streams = histories(uuid.uuid4().hex[:6], streams=45, length=10)
    order, ids = interleaved(streams), list(streams)
    redis = Redis.from_url(s.redis_url)
    processor = Service.stream_processor(s, tmp_path, "processor").start()
    try:
        async with Publisher(s) as publisher, LiveChannels(redis, s) as live, \
                SteadyLoad(publisher, order, rate_per_s=40) as load:  # fmt: skip
            await until_applied(redis, s, ids, len(order) // 5, timeout_s=120)
            began = time.monotonic()
            await asyncio.to_thread(stop_server, stack, "cassandra")
            applied_at_stop = await applied_total(redis, s, ids)
            await asyncio.sleep(3.0)
            await asyncio.to_thread(stack.up)
            down_s = time.monotonic() - began
            applied_while_down = await applied_total(redis, s, ids) - applied_at_stop
            tally = await load.finished(timeout_s=180)
            await until_projected(redis, s, streams, timeout_s=240)
        async with opened_store(s) as store:
            found = await audit(store, redis, s, streams, live.seen)
        still_running = processor.alive
    finally:
        processor.stop()
        await redis.aclose()
    retries = processor.tail(100_000).count(RETRY_LINE)
    counts = Counts("cassandra-restart", tally.sent, len(tally.accepted), found.stored,
                    found.applied, len(found.lost), len(found.duplicated),
                    {"cassandra_down_s": round(down_s, 1), "sink_retries": retries,
                     "applied_at_stop": applied_at_stop,
                     "applied_while_down": applied_while_down})  # fmt: skip
    print(counts.line())
    assert retries >= 1, "the sink never met the outage: " + processor.tail()
    assert counts.accepted == len(order) == found.stored == found.applied
    assert found.lost == [] and found.duplicated == [], (found.lost[:5], found.duplicated[:5])
    assert still_running, processor.tail()
