"""The batcher publishes a finished row's answer beside the next decode steps: a slow or failing
publish of one answer holds up no other request (in process; the model is the real tiny preset,
the sink a stand-in for the results topic)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from consumers.inference.batcher import Answer, Batcher, Request
from consumers.inference.registry import ModelRegistry

MODEL = "preset:tiny"


class Sink:
    def __init__(self, held: str = "", failing: str = "") -> None:
        self.held, self.failing = held, failing
        self.release = asyncio.Event()
        self.answered: list[str] = []

    async def chunk(self, req: Request, index: int, text: str) -> None:
        return None

    async def final(self, req: Request, answer: Answer) -> None:
        if req.request_id == self.held:
            await self.release.wait()
        if req.request_id == self.failing:
            raise ConnectionError("results topic unreachable")
        self.answered.append(req.request_id)

    async def fail(self, req: Request, reason: str) -> None:
        raise AssertionError(f"{req.request_id} failed: {reason}")


def _request(rid: str, tokens: int) -> Request:
    return Request(rid, MODEL, "generate", f"def {rid}(x):", [], tokens, 0.0)


@contextlib.asynccontextmanager
async def serving(sink: Sink, *requests: Request) -> AsyncIterator[Batcher]:
    """A batcher with ``requests`` submitted together; closed (held answers released) after."""
    batcher = Batcher(ModelRegistry(".", 2**30), sink, max_batch=4, max_wait_s=0.05)
    for request in requests:
        batcher.submit(request)
    try:
        yield batcher
    finally:
        sink.release.set()
        await batcher.close()


async def test_a_slow_answer_holds_up_no_other_row() -> None:
    sink = Sink(held="short")
    short, long = _request("short", 2), _request("long", 12)
    async with serving(sink, short, long):
        assert await asyncio.wait_for(long.done, 60) is True  # while short's answer is held
        assert sink.answered == ["long"] and not short.done.done()
        sink.release.set()
        assert await asyncio.wait_for(short.done, 10) is True
        assert sink.answered == ["long", "short"]


async def test_an_answer_that_cannot_be_published_leaves_only_its_request_unanswered() -> None:
    sink = Sink(failing="lost")
    lost, kept = _request("lost", 2), _request("kept", 6)
    async with serving(sink, lost, kept) as batcher:
        assert await asyncio.wait_for(lost.done, 60) is False  # uncommitted: redelivered later
        assert await asyncio.wait_for(kept.done, 60) is True
        later = _request("later", 2)
        batcher.submit(later)
        assert await asyncio.wait_for(later.done, 60) is True  # the scheduler goes on
        assert sink.answered == ["kept", "later"]
