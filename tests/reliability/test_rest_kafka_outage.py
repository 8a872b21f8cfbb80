"""Kafka stopped and restarted (private stack) while clients submit training jobs over REST.

The whole service runs as subprocesses (the API under uvicorn, a training worker, the stream
processor); four clients POST tiny jobs continuously. Kafka is stopped for a few seconds and
restarted. Every request must be answered (none hangs): ``202`` only when the command is in Kafka,
``503`` with ``Retry-After`` within the API's bounded Kafka wait while Kafka is down, ``202`` again
once it is back. Every job answered ``202`` must take effect exactly once: one ``JobSubmitted`` in
its stream in Cassandra, a contiguous stream, the job ``SUCCEEDED`` in the projection (read over
REST). A ``503`` promises nothing, so a job the client never heard of may exist ("in doubt": its
command reached Kafka but the acknowledgement did not reach the API in time) — counted, not lost.
Two of the four clients send an ``Idempotency-Key`` and retry a refused submission with it until
it is accepted: each of their submissions must end as exactly one job, never in doubt.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from api.routers.training import submission_ids
from compose.settings import Settings
from compose.stack import Stack
from producers.topics import provision
from schemas.records import utc_now
from tests.reliability.evidence import opened_store
from tests.reliability.platform import running_platform, until_terminal
from tests.reliability.rest_clients import SubmittingClients
from tests.reliability.services import stop_server

pytestmark = [pytest.mark.reliability, pytest.mark.stack, pytest.mark.slow]
KAFKA_TIMEOUT_S = 3.0  # the API's bound on Kafka (QLLM_API_KAFKA_TIMEOUT_S)
ANSWER_BOUND_S = KAFKA_TIMEOUT_S + 3.0  # + the busy machine's scheduling
OUTAGE_S = 6.0


async def stored_jobs(s: Settings, since_s: float) -> dict[str, list[str]]:
    """Every job stream in the scenario's keyspace: its event types in ``seq`` order."""
    async with opened_store(s) as store:
        found = await store.read_time_range(utc_now() - timedelta(seconds=since_s),
                                            utc_now() + timedelta(hours=1))  # fmt: skip
        streams: dict[str, list[str]] = {}
        for stream_id in sorted({e.stream_id for e in found if e.stream_id.startswith("job-")}):
            stored = await store.read_stream(stream_id)
            if [e.seq for e in stored] != list(range(1, len(stored) + 1)):
                streams[stream_id] = ["not contiguous"]
                continue
            streams[stream_id] = [e.type for e in stored]
    return streams


async def test_kafka_restart_under_rest_submissions_every_202_applies_once_outage_gets_503(
    stack: Stack, scenario_settings: Settings, tmp_path: Path
) -> None:
    s = scenario_settings
    await provision(s)
    began = time.monotonic()
    with running_platform(s, tmp_path, ("training",),
                          kafka_timeout_s=str(KAFKA_TIMEOUT_S)) as platform:  # fmt: skip
        async with SubmittingClients(platform, lanes=4, interval_s=1.0, timeout_s=30,
                                     keyed_lanes=2) as clients:  # fmt: skip
            await clients.until(lambda sub: len(sub.accepted()) >= 8, timeout_s=120)
            await asyncio.to_thread(stop_server, stack, "kafka")
            down = time.monotonic()
            await asyncio.sleep(OUTAGE_S)
            restarting = time.monotonic()
            await asyncio.to_thread(stack.up)
            up = time.monotonic()
            await clients.until(lambda sub: len([a for a in sub.after(up) if a.status == 202])
                                >= 8, timeout_s=90)  # fmt: skip
        sub = clients.submissions
        accepted = sub.accepted()
        seen = await asyncio.to_thread(until_terminal, platform, accepted, 240)
        tails = platform.tails()
    streams = await stored_jobs(s, time.monotonic() - began + 60)
    during = sub.between(down, restarting)
    keys = sub.keys()
    statuses = Counter(a.status for a in sub.answers)
    submitted = Counter(types.count("JobSubmitted") for types in streams.values())
    applied = [
        j
        for j in accepted
        if streams.get(j, [])[:1] == ["JobSubmitted"]
        and streams[j].count("JobSubmitted") == 1
        and streams[j][-1] == "JobSucceeded"
    ]
    print(
        f"RELIABILITY rest-kafka-restart: sent={len(sub.answers)} accepted={len(accepted)} "
        f"applied={len(applied)} lost={len([j for j in accepted if j not in streams])} "
        f"duplicated={sum(n for k, n in submitted.items() if k > 1)} "
        f"statuses={dict(statuses)} during_outage={len(during)} "
        f"refused_during_outage={sum(a.status == 503 for a in during)} "
        f"slowest_503_s={max((a.took_s for a in sub.answers if a.status == 503), default=0):.2f} "
        f"accepted_after_restart={sum(a.status == 202 for a in sub.after(up))} "
        f"succeeded={sum(seen.get(j, {}).get('status') == 'SUCCEEDED' for j in accepted)} "
        f"in_doubt={len(set(streams) - set(accepted))} kafka_down_s={up - down:.1f} "
        f"job_errors_retried={sum(bool(seen.get(j, {}).get('retries_used')) for j in accepted)} "
        f"keyed_submissions={len(keys)} keyed_retried={sum(len(a) > 1 for a in keys.values())} "
        f"keyed_replayed={sum(a[-1].replayed for a in keys.values())}"
    )
    assert set(statuses) <= {202, 503}, statuses  # nothing hung (0), no other error
    assert during and all(a.status == 503 and a.retry_after for a in during)
    assert max(a.took_s for a in sub.answers if a.status == 503) <= ANSWER_BOUND_S
    assert len(set(accepted)) == len(accepted)
    assert applied == accepted, ([j for j in accepted if j not in applied][:5], tails)
    assert all(seen[j]["status"] == "SUCCEEDED" for j in accepted), tails
    assert set(submitted) == {1}, submitted  # no job stream with two submissions
    # the careful clients: every key ends in one 202, with its own job, applied once; the job is
    # the key's (derived from it), so an attempt refused with 503 that took effect anyway made
    # that same job: none of theirs can be in doubt
    assert all(attempts[-1].status == 202 for attempts in keys.values()), keys
    keyed_jobs = {key: str(attempts[-1].job_id) for key, attempts in keys.items()}
    assert len(set(keyed_jobs.values())) == len(keyed_jobs)
    assert set(keyed_jobs.values()) <= set(applied)
    subject = seen[next(iter(keyed_jobs.values()))]["owner"]
    assert all(job == submission_ids(subject, key)[0] for key, job in keyed_jobs.items())
    assert any(len(attempts) > 1 for attempts in keys.values())  # some were refused and retried
