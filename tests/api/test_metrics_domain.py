"""The domain series on ``/metrics`` (jobs by state from the projection) and the SSE keep-alive
of streamed inference answers."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import pytest

from api.inference_client import KEEPALIVE, with_keepalive
from schemas.jobs import JobState, JobStatus
from schemas.snapshot import to_json
from tests.api.conftest import Api

pytestmark = pytest.mark.stack


async def _seed_job(api: Api, status: JobStatus) -> None:
    """A job in the projection as the stream processor writes it (hash + time index)."""
    resources = api.app.state.resources
    keys, job_id = resources.projection_keys, f"job-{uuid.uuid4().hex}"
    state = JobState(job_id=job_id, version=2, status=status, owner="someone")
    fields = {"kind": "job", "seq": 2, "state": to_json(state)}
    await resources.redis.hset(keys.stream(job_id), mapping=fields)
    await resources.redis.zadd(keys.by_time("job"), {job_id: 1.0})


def _gauge(text: str, name: str, label: str) -> float:
    found = re.search(rf"^{name}\{{{label}\}} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name}{{{label}}} missing"
    return float(found.group(1))


async def test_metrics_count_jobs_by_state_from_the_projection(api: Api) -> None:
    for status in (JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.FAILED):
        await _seed_job(api, status)
    text = (await api.client.get("/metrics")).text
    assert _gauge(text, "qllm_jobs", 'state="RUNNING"') == 2
    assert _gauge(text, "qllm_jobs", 'state="FAILED"') == 1
    assert _gauge(text, "qllm_jobs", 'state="SUCCEEDED"') == 0
    await _seed_job(api, JobStatus.SUCCEEDED)
    again = (await api.client.get("/metrics")).text
    assert _gauge(again, "qllm_jobs", 'state="SUCCEEDED"') == 1


async def _slow(frames: list[bytes], pause_s: float) -> AsyncIterator[bytes]:
    for frame in frames:
        await asyncio.sleep(pause_s)
        yield frame


async def test_an_idle_stream_gets_keepalive_comments_between_frames() -> None:
    out = [f async for f in with_keepalive(_slow([b"a", b"b"], 0.12), interval_s=0.05)]
    assert [f for f in out if f != KEEPALIVE] == [b"a", b"b"]  # frames intact and in order
    assert out.index(b"a") >= 1 and out.index(b"b") - out.index(b"a") >= 2
    assert KEEPALIVE.startswith(b":") and KEEPALIVE.endswith(b"\n\n")  # an SSE comment


async def test_a_busy_stream_gets_no_keepalive() -> None:
    out = [f async for f in with_keepalive(_slow([b"a", b"b", b"c"], 0.0), interval_s=5.0)]
    assert out == [b"a", b"b", b"c"]


async def test_closing_the_stream_early_closes_its_source() -> None:
    closed = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            await asyncio.sleep(60)
            yield b"never"
        finally:
            closed.set()

    stream = with_keepalive(source(), interval_s=0.01)
    assert await anext(stream) == b"a"
    assert await anext(stream) == KEEPALIVE
    await stream.aclose()  # type: ignore[attr-defined]
    assert closed.is_set()
