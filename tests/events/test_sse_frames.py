"""SSE frames and heartbeats, and the Last-Event-ID parsing of the feed (no stack needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from schemas import jobs
from schemas.records import Event, Record
from streams.feed import event_json, parse_last_event_id
from streams.sse import HEARTBEAT, encode_frame, sse_frames


def test_frame_carries_id_event_and_one_data_line_per_line() -> None:
    frame = encode_frame(7, "JobPaused", "a\nb")
    assert frame == b"id: 7\nevent: JobPaused\ndata: a\ndata: b\n\n"


def test_last_event_id_parses_to_a_seq_and_defaults_to_the_start() -> None:
    assert [parse_last_event_id(v) for v in ("12", None, "", "x", "-3")] == [12, 0, 0, 0, 0]


async def test_silence_yields_heartbeat_comments_then_the_event(
    make_sample: Callable[..., Record],
) -> None:
    event = make_sample(jobs.JobPaused, seq=4)

    async def slow() -> AsyncIterator[Event]:
        await asyncio.sleep(0.25)
        yield event  # type: ignore[misc]

    frames = [frame async for frame in sse_frames(slow(), heartbeat_s=0.1)]
    assert frames[:2] == [HEARTBEAT, HEARTBEAT]
    assert frames[-1].startswith(b"id: 4\nevent: JobPaused\n")
    assert len(frames) in (3, 4)


def test_event_json_has_the_envelope_type_and_iso_time(make_sample: Callable[..., Record]) -> None:
    data = event_json(make_sample(jobs.JobFailed, seq=2))  # type: ignore[arg-type]
    assert data["type"] == "JobFailed" and data["seq"] == 2
    assert data["occurred_at"].startswith("2024-05-06T07:08:09.123456")
