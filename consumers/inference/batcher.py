"""The batcher: one scheduler task per model, dynamic batching, continuous or static decoding.

Dynamic batching: a model's scheduler takes the first waiting request, then waits at most
``max_wait`` for more, up to ``max_batch``. Continuous batching (default): generation rows join
the running batch between decode steps and leave when done; static batching runs each batch to
its end with the engine's KV cache before the next one starts. Non-generative requests (embeddings,
similarity, batch) that arrive together run together in one thread call.

A cancelled request or one past its deadline is dropped before the next step (continuous) or
before its batch starts (static), so it stops using compute; it gets a failed result.
``metrics`` records the size of every decode step and batch: what the tests and benchmarks read.

Streaming: a request's new text goes out as one chunk per ``stream_interval`` (and at its end),
not one per token: every chunk is an ``acks=all`` record, and on a small model a record per token
costs more CPU than the decode step that made it. The first chunk goes out at once (TTFT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import torch

from consumers.errors import ConsumerError
from consumers.inference.decoder import ContinuousBatch, Row, room, static_batch
from consumers.inference.registry import LoadedModel, ModelRegistry
from consumers.inference.wire import GENERATIVE
from model import ModelError

log = logging.getLogger("consumers.inference")


@dataclass(eq=False)
class Request:
    request_id: str
    model_id: str
    op: str
    prompt: str
    texts: list[str]
    max_tokens: int
    temperature: float
    stream: bool = False
    deadline: float | None = None  # epoch seconds
    top_k: int = 0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    cancelled: bool = False
    sent: int = 0  # characters already streamed
    chunks: int = 0
    last_chunk: float = 0.0  # monotonic time of the last chunk sent
    sending: list[asyncio.Future[None]] = field(default_factory=list)

    def expired(self) -> bool:
        return self.deadline is not None and time.time() > self.deadline


@dataclass(frozen=True)
class Answer:
    """A request's final answer: text and token counts, or the structured answer of its kind."""

    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    embeddings: list[list[float]] = field(default_factory=list)
    similarity: float | None = None
    texts: list[str] = field(default_factory=list)


class Sink(Protocol):
    async def chunk(self, req: Request, index: int, text: str) -> None: ...

    async def final(self, req: Request, answer: Answer) -> None: ...

    async def fail(self, req: Request, reason: str) -> None: ...


@dataclass
class BatchMetrics:
    """Histogram of batch sizes (decode steps or static batches) and request counters."""

    sizes: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    tokens: int = 0

    def observe(self, size: int) -> None:
        self.sizes[size] += 1

    @property
    def max_size(self) -> int:
        return max(self.sizes, default=0)

    @property
    def mean_size(self) -> float:
        total = sum(self.sizes.values())
        return sum(s * n for s, n in self.sizes.items()) / total if total else 0.0


class Batcher:
    def __init__(
        self,
        registry: ModelRegistry,
        sink: Sink,
        max_batch: int,
        max_wait_s: float,
        continuous: bool = True,
        stream_interval_s: float = 0.0,
    ) -> None:
        self.registry, self.sink = registry, sink
        self.stream_interval_s = stream_interval_s
        self.max_batch, self.max_wait_s, self.continuous = max_batch, max_wait_s, continuous
        self.metrics = BatchMetrics()
        self._queues: dict[str, asyncio.Queue[Request]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._live: dict[str, Request] = {}
        self._generator = torch.Generator().manual_seed(0)
        self._finishing: set[asyncio.Future[None]] = set()  # answers being published

    def submit(self, req: Request) -> None:
        self._live[req.request_id] = req
        req.done.add_done_callback(lambda _: self._live.pop(req.request_id, None))
        self.metrics.requests += 1
        queue = self._queues.setdefault(req.model_id, asyncio.Queue())
        queue.put_nowait(req)
        if req.model_id not in self._tasks:
            self._tasks[req.model_id] = asyncio.create_task(self._serve(req.model_id, queue))

    def cancel(self, request_id: str) -> bool:
        req = self._live.get(request_id)
        if req is not None:
            req.cancelled = True
        return req is not None

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*self._finishing, return_exceptions=True)  # answers being sent
        for req in list(self._live.values()):
            if not req.done.done():
                req.done.set_result(False)  # not answered: left uncommitted for the next owner

    # -- scheduling ----------------------------------------------------------------------------
    async def _serve(self, model_id: str, queue: asyncio.Queue[Request]) -> None:
        rows: dict[Request, Row] = {}
        while True:
            try:
                await self._serve_rows(model_id, queue, rows)
            except Exception:  # results could not be published: leave these uncommitted
                log.exception("scheduler of %s failed; %d requests left unanswered",
                              model_id, len(rows))  # fmt: skip
                for req in rows:
                    if not req.done.done():
                        req.done.set_result(False)
                rows.clear()

    async def _serve_rows(
        self, model_id: str, queue: asyncio.Queue[Request], rows: dict[Request, Row]
    ) -> None:
        batch: ContinuousBatch | None = None
        while True:
            arrivals = await self._collect(
                queue, wait=not rows, room_for=self.max_batch - len(rows)
            )
            try:
                loaded = await self.registry.get(model_id)
            except (ConsumerError, ModelError, OSError) as exc:
                for req in [*arrivals, *rows]:
                    await self._fail(req, f"{type(exc).__name__}: {exc}")
                rows.clear()
                continue
            await self._run_others(loaded, [r for r in arrivals if r.op not in GENERATIVE])
            for req in (r for r in arrivals if r.op in GENERATIVE):
                await self._admit(loaded, req, rows)
            await self._drop_gone(rows)
            if batch is None or batch.engine is not loaded.engine:
                batch = ContinuousBatch(loaded.engine)
            if rows:
                await self._advance(loaded, batch, rows)

    async def _collect(
        self, queue: asyncio.Queue[Request], wait: bool, room_for: int
    ) -> list[Request]:
        got: list[Request] = []
        if wait:
            got.append(await queue.get())
            deadline = time.monotonic() + self.max_wait_s
            while len(got) < room_for and (left := deadline - time.monotonic()) > 0:
                try:
                    got.append(await asyncio.wait_for(queue.get(), left))
                except TimeoutError:
                    break
        while len(got) < room_for and not queue.empty():
            got.append(queue.get_nowait())
        return got

    async def _admit(self, loaded: LoadedModel, req: Request, rows: dict[Request, Row]) -> None:
        ids = loaded.engine.tokenizer.encode(req.prompt, add_bos=True)
        if not room(loaded.engine, ids, req.max_tokens):
            limit = loaded.engine.max_len
            await self._fail(req, f"prompt of {len(ids)} tokens + {req.max_tokens} > {limit}")
            return
        rows[req] = Row(ids, req.max_tokens, req.temperature, req.top_k, req.top_p, req.stop)

    async def _drop_gone(self, rows: dict[Request, Row]) -> None:
        for req in [r for r in rows if r.cancelled or r.expired()]:
            del rows[req]
            await self._fail(req, "cancelled" if req.cancelled else "deadline exceeded")

    async def _advance(
        self, loaded: LoadedModel, batch: ContinuousBatch, rows: dict[Request, Row]
    ) -> None:
        self.metrics.observe(len(rows))
        try:
            if self.continuous:
                await asyncio.to_thread(batch.step, list(rows.values()), self._generator)
            else:
                await asyncio.to_thread(_static, loaded, dict(rows))
        except (ModelError, RuntimeError) as exc:
            for req in list(rows):
                await self._fail(req, f"{type(exc).__name__}: {exc}")
            rows.clear()
            return
        await asyncio.gather(*(self._stream(req, row) for req, row in rows.items()))
        for req, row in [(req, row) for req, row in rows.items() if row.finished]:
            del rows[req]
            self._finish(req, row)

    def _finish(self, req: Request, row: Row) -> None:
        """Publish a finished row's answer beside the next decode steps: the other rows do not
        wait for its acknowledgement. If it cannot be published, the request is left unanswered
        (uncommitted: redelivered to the partition's next owner), as when the scheduler fails."""
        task = asyncio.ensure_future(self._final(req, row))
        self._finishing.add(task)
        task.add_done_callback(partial(self._finished, req))

    def _finished(self, req: Request, task: asyncio.Future[None]) -> None:
        self._finishing.discard(task)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            log.error("answer to %s not published: %r", req.request_id, failure)
        if not req.done.done():
            req.done.set_result(False)

    async def _final(self, req: Request, row: Row) -> None:
        await asyncio.gather(*req.sending)
        self.metrics.tokens += len(row.generated)
        reason = "length" if len(row.generated) >= row.max_tokens else "stop"
        answer = Answer(row.text, len(row.prompt_ids), len(row.generated), reason)
        await self.sink.final(req, answer)
        if not req.done.done():
            req.done.set_result(True)

    async def _stream(self, req: Request, row: Row) -> None:
        """Send the new text as a chunk without holding up decoding: the final result waits
        for its request's chunks (one key, one partition, so Kafka keeps them in order)."""
        ready = row.text if row.finished else row.text.rstrip("\ufffd")
        now = time.monotonic()
        due = row.finished or req.chunks == 0 or now - req.last_chunk >= self.stream_interval_s
        if req.stream and due and len(ready) > req.sent:
            req.chunks, req.last_chunk = req.chunks + 1, now
            send = self.sink.chunk(req, req.chunks, ready[req.sent :])
            req.sending.append(asyncio.ensure_future(send))
            req.sent = len(ready)

    async def _run_others(self, loaded: LoadedModel, reqs: list[Request]) -> None:
        if not reqs:
            return
        self.metrics.observe(len(reqs))
        try:
            answers = await asyncio.to_thread(_answer_others, loaded, reqs)
        except (ModelError, RuntimeError) as exc:
            for req in reqs:
                await self._fail(req, f"{type(exc).__name__}: {exc}")
            return
        for req, answer in zip(reqs, answers, strict=True):
            await self.sink.final(req, answer)
            req.done.set_result(True)

    async def _fail(self, req: Request, reason: str) -> None:
        await asyncio.gather(*req.sending, return_exceptions=True)
        await self.sink.fail(req, reason)
        if not req.done.done():
            req.done.set_result(True)


def _static(loaded: LoadedModel, rows: dict[Request, Row]) -> None:
    """Each temperature's rows as one engine batch, run to the end."""
    groups: dict[float, list[Request]] = {}
    for req in rows:
        groups.setdefault(req.temperature, []).append(req)
    for group in groups.values():
        static_batch(loaded.engine, [r.prompt for r in group], [rows[r] for r in group])


def _answer_others(loaded: LoadedModel, reqs: list[Request]) -> list[Answer]:
    """Embeddings of all embeddings requests in one call; similarity and batch requests after."""
    engine = loaded.engine
    embeds = [r for r in reqs if r.op == "embeddings"]
    vectors = engine.embed([t for r in embeds for t in r.texts]) if embeds else None
    answers, offset = {}, 0
    for req in embeds:
        assert vectors is not None
        rows = vectors[offset : offset + len(req.texts)]  # [n, D]
        answers[req] = Answer(embeddings=[[float(x) for x in v] for v in rows])
        offset += len(req.texts)
    for req in reqs:
        if req.op == "similarity":
            answers[req] = Answer(similarity=float(engine.similarity(*req.texts)))
        elif req.op == "batch":
            rows_ = [Row(engine.tokenizer.encode(t, add_bos=True), req.max_tokens,
                         req.temperature) for t in req.texts]  # fmt: skip
            static_batch(engine, req.texts, rows_)
            answers[req] = Answer(texts=[r.text for r in rows_])
    return [answers[r] for r in reqs]
