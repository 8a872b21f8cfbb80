"""Kafka stopped and restarted (private stack) while a producer publishes with the idempotent
``Publisher``: nothing hangs, nothing acknowledged is lost or applied twice.

During the outage every publish raises the typed, retriable ``BrokerUnavailable`` within the
publisher's bounded wait (``ack_timeout_s``); the load publishes the same event again after a
pause, as a client without an acknowledgement would, so an event the broker did take before the
failure may reach the log twice — the store and the projection must make that one effect. The
stream processor runs through the outage and must resume on its own once Kafka is back.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from compose.settings import Settings
from compose.stack import Stack
from producers.publisher import Publisher, PublisherOptions
from producers.topics import provision
from tests.reliability.evidence import Counts, LiveChannels, audit, opened_store, until_projected
from tests.reliability.services import Service, stop_server
from tests.reliability.workload import SteadyLoad, histories, interleaved

pytestmark = [pytest.mark.reliability, pytest.mark.stack, pytest.mark.slow]
ACK_TIMEOUT_S = 3.0
OUTAGE_S = 8.0


# regression: a failed publish used to leave the idempotent producer out of sequence for good
# (OutOfOrderSequenceNumber on every later send to that partition); it is now retired.
async def test_kafka_restart_loses_nothing_acknowledged_and_outage_publishes_fail_fast(
    stack: Stack, scenario_settings: Settings, tmp_path: Path
) -> None:
    s = scenario_settings
    await provision(s)
    streams = histories(uuid.uuid4().hex[:6], streams=45, length=10)
    order = interleaved(streams)
    redis = Redis.from_url(s.redis_url)
    processor = Service.stream_processor(s, tmp_path, "processor").start()
    options = PublisherOptions(connect_timeout_s=ACK_TIMEOUT_S, ack_timeout_s=ACK_TIMEOUT_S)
    try:
        async with Publisher(s, options) as publisher, LiveChannels(redis, s) as live, \
                SteadyLoad(publisher, order, rate_per_s=40, lanes=8) as load:  # fmt: skip
            await load.until(lambda t: len(t.accepted) >= len(order) // 4, timeout_s=120)
            await asyncio.to_thread(stop_server, stack, "kafka")
            before = len(load.tally.accepted)
            await asyncio.sleep(OUTAGE_S)
            during = len(load.tally.accepted) - before
            refused_during = load.tally.refused
            await asyncio.to_thread(stack.up)
            tally = await load.finished(timeout_s=90)
            await until_projected(redis, s, streams, timeout_s=180)
        async with opened_store(s) as store:
            found = await audit(store, redis, s, streams, live.seen)
        still_running = processor.alive
    finally:
        processor.stop()
        await redis.aclose()
    counts = Counts("kafka-restart", tally.sent, len(tally.accepted), found.stored, found.applied,
                    len(found.lost), len(found.duplicated),
                    {"refused": tally.refused, "refused_during_outage": refused_during,
                     "slowest_refusal_s": round(tally.slowest_refusal_s, 2),
                     "accepted_during_outage": during})  # fmt: skip
    print(counts.line())
    assert refused_during >= 1 and during <= 1  # the outage was real (one ack may be in flight)
    assert tally.slowest_refusal_s <= ACK_TIMEOUT_S + 1.0  # bounded: nothing hangs
    assert counts.accepted == len(order) == found.stored == found.applied
    assert found.lost == [] and found.duplicated == [], (found.lost[:5], found.duplicated[:5])
    assert still_running, processor.tail()
