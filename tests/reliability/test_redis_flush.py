"""The private Redis flushed: the projection is rebuilt from Cassandra and equals what it was.

Twice, under the same steady load: once with the load paused (the rebuild by the operator's
command, ``python -m streams rebuild``, must give back the projection key for key: every state
hash, every owner and time list with its scores), and once while events keep flowing (the
running processor catches up the streams it meets from Cassandra, the rebuild the others; at the
end the live projection must equal a fresh rebuild from Cassandra and the replay of every
stream). Only this suite's private Redis is ever flushed.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from compose.settings import Settings
from producers.publisher import Publisher
from producers.topics import provision
from schemas.codec import default_codec
from streams.projection import ProjectionKeys
from streams.rebuild import drop_projection, rebuild
from tests.reliability.evidence import (
    Counts,
    audit,
    opened_store,
    snapshot,
    until_applied,
    until_projected,
)
from tests.reliability.services import ROOT, Service, environment
from tests.reliability.workload import SteadyLoad, histories, interleaved

pytestmark = [pytest.mark.reliability, pytest.mark.stack, pytest.mark.slow]


async def rebuild_command(settings: Settings) -> str:
    """``python -m streams rebuild`` against the scenario's stack; what it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams", "rebuild", env=environment(settings), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    return out.decode().strip().splitlines()[-1]


def differing(one: dict[str, object], other: dict[str, object]) -> int:
    return sum(other.get(k) != v for k, v in one.items()) + len(set(other) - set(one))


async def test_flushed_redis_is_rebuilt_from_cassandra_key_for_key(
    scenario_settings: Settings, tmp_path: Path
) -> None:
    s = scenario_settings
    await provision(s)
    streams = histories(uuid.uuid4().hex[:6], streams=30, length=10)
    order, ids = interleaved(streams), list(streams)
    prefix = ProjectionKeys.from_settings(s).prefix
    redis = Redis.from_url(s.redis_url)
    processor = Service.stream_processor(s, tmp_path, "processor").start()
    try:
        async with Publisher(s) as publisher, SteadyLoad(publisher, order, 50) as load:
            await load.until(lambda t: len(t.accepted) >= len(order) // 2, timeout_s=120)
            load.pause()
            await asyncio.sleep(0.2)  # the publish in flight, if any, is acknowledged
            await until_applied(redis, s, ids, len(load.tally.accepted), timeout_s=120)
            before = await snapshot(redis, prefix)
            await redis.flushall()
            flushed = await snapshot(redis, prefix)
            said = await rebuild_command(s)
            after = await snapshot(redis, prefix)
            load.resume()
            await load.until(lambda t: len(t.accepted) >= len(order) * 3 // 4, timeout_s=120)
            await redis.flushall()  # this time under load: no pause
            said_live = await rebuild_command(s)
            tally = await load.finished(timeout_s=120)
            await until_projected(redis, s, streams, timeout_s=120)
        async with opened_store(s) as store:
            found = await audit(store, redis, s, streams)
            fresh = ProjectionKeys(f"verify-{uuid.uuid4().hex[:8]}")
            await rebuild(store, redis, fresh, default_codec())
            live, rebuilt = await snapshot(redis, prefix), await snapshot(redis, fresh.prefix)
            await drop_projection(redis, fresh)
    finally:
        processor.stop()
        await redis.aclose()
    counts = Counts("redis-flush", tally.sent, len(tally.accepted), found.stored, found.applied,
                    len(found.lost), len(found.duplicated),
                    {"keys_before_flush": len(before), "keys_rebuilt": len(after),
                     "keys_differing": differing(before, after),
                     "keys_differing_under_load": differing(live, rebuilt)})  # fmt: skip
    print(counts.line())
    assert flushed == {} and len(before) > len(ids)  # state hashes plus the lists
    assert after == before, "the rebuild differs from the projection it replaced"
    assert said == f"rebuilt {len(ids)} streams" and said_live == said
    assert live == rebuilt, "after a flush under load the projection differs from a rebuild"
    assert counts.accepted == len(order) == found.stored == found.applied
    assert found.lost == [] and found.duplicated == [], (found.lost[:5], found.duplicated[:5])
