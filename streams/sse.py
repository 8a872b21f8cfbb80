"""Server-sent events: one frame encoder, a heartbeat comment every 15 s, and the stream of frames.

``sse_frames(feed.follow(stream_id, parse_last_event_id(header)))`` is what an HTTP route returns
as a ``text/event-stream`` body; each frame's ``id:`` is the event's ``seq``, so a reconnecting
client's ``Last-Event-ID`` resumes exactly after the last event it saw.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from schemas.records import Event
from streams.feed import event_json

HEARTBEAT_S = 15.0
HEARTBEAT = b": ping\n\n"
MEDIA_TYPE = "text/event-stream"


def encode_frame(event_id: int | str, event: str, data: str) -> bytes:
    """One SSE frame; multi-line data becomes several ``data:`` lines, as the spec requires."""
    lines = [f"id: {event_id}", f"event: {event}", *(f"data: {line}" for line in data.split("\n"))]
    return ("\n".join(lines) + "\n\n").encode()


async def sse_frames(
    events: AsyncIterator[Event], heartbeat_s: float = HEARTBEAT_S
) -> AsyncIterator[bytes]:
    """Frames of ``events``, with a heartbeat comment whenever ``heartbeat_s`` pass in silence."""
    iterator = aiter(events)
    pending: asyncio.Task[Event] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=heartbeat_s)
            if not done:
                yield HEARTBEAT
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield encode_frame(event.seq, event.type, json.dumps(event_json(event)))
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.wait({pending})  # let the generator stop before closing it
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
