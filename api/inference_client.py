"""The API's client of the inference batchers: write a request, await or stream its results.

``answer`` waits for the final result; ``stream`` yields chunks, then the final answer. Both
subscribe to the results listener before publishing (so no result is missed), publish the
command and wait for Kafka's acknowledgement, and bound every wait by the request's deadline,
which the command also carries (the batcher then stops computing it too): past it, 504.

When the HTTP client goes away — the streaming body is cancelled, or a non-streaming request's
``http.disconnect`` arrives while it waits — a cancel is published for the request, so the
batcher drops it before its next decode step. The cancel is sent from a task of its own: the
request's own task is being cancelled and cannot await anything any more.

Failed results map to HTTP by their reason: unknown model 404, a request the model cannot serve
(too long, bad options) 422, deadline 504, anything else 502.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from api.errors import ApiError, ServiceUnavailable
from api.inference_wire import (
    Answer,
    Ask,
    Chunk,
    Failure,
    Kind,
    cancel_message,
    request_message,
    structured,
)
from api.inference_wire import Message as WireMessage
from api.observability.metrics import ApiMetrics
from api.resources import Resources
from api.results import ResultsListener, next_outcome
from producers.errors import BrokerUnavailable
from schemas.codec import Codec, default_codec

log = logging.getLogger("qllm.api.inference")
_CANCELS: set[asyncio.Task[None]] = set()  # keeps fire-and-forget cancels alive until sent


class InferenceTimedOut(ApiError):
    status, code, openai_type = 504, "inference_timeout", "timeout"


class InferenceRejected(ApiError):
    status, code, openai_type = 422, "inference_rejected", "invalid_request_error"


class InferenceFailedError(ApiError):
    status, code, openai_type = 502, "inference_failed", "server_error"


class ModelMissing(ApiError):
    status, code, openai_type = 404, "model_not_found", "invalid_request_error"


_REJECTED = ("ModelError", "ConfigError", "ValueError", "prompt of")
KEEPALIVE_S = 15.0  # default; ``app.state.sse_keepalive_s`` overrides it (tests use a short one)
KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: clients ignore it, proxies see traffic


@dataclass(frozen=True)
class Inference:
    """What a request needs to run inference: the process's resources and the app's metrics."""

    resources: Resources
    metrics: ApiMetrics
    codec: Codec
    keepalive_s: float = 15.0  # SSE keep-alive comment interval of streamed answers

    @classmethod
    def of(cls, request: Request) -> Inference:
        state = request.app.state
        return cls(state.resources, state.metrics, default_codec(),
                   float(getattr(state, "sse_keepalive_s", KEEPALIVE_S)))  # fmt: skip

    @property
    def results(self) -> ResultsListener:
        return self.resources.results

    async def publish(self, message: WireMessage) -> None:
        """Publish and wait for Kafka's acknowledgement (503 past the bound)."""
        publisher = await self.resources.publisher()
        topic = self.resources.settings.topic(message.topic)
        try:
            await publisher.publish_raw(topic, message.key, message.value, message.headers)
        except BrokerUnavailable as exc:
            raise ServiceUnavailable("kafka", exc.reason) from exc


def _raise_for(failure: Failure, ask: Ask) -> None:
    details = {"request_id": ask.request_id, "model_id": ask.model_id, "reason": failure.reason}
    if failure.reason.startswith("ModelNotFound"):
        raise ModelMissing("no checkpoint or preset for the model", details=details, param="model")
    if failure.reason == "deadline exceeded":
        raise InferenceTimedOut("inference did not finish before its deadline", details=details)
    if failure.reason.startswith(_REJECTED):
        raise InferenceRejected(f"the model cannot serve this request: {failure.reason}",
                                details=details)  # fmt: skip
    raise InferenceFailedError(f"inference failed: {failure.reason}", details=details)


def _remaining(ask: Ask) -> float:
    assert ask.deadline_s is not None
    return ask.deadline_s - time.time()


async def _next(queue: asyncio.Queue[object], ask: Ask) -> Chunk | Answer:
    try:
        outcome = await next_outcome(queue, _remaining(ask) + 1.0)  # the batcher's verdict first
    except TimeoutError as exc:
        details = {"request_id": ask.request_id, "model_id": ask.model_id}
        raise InferenceTimedOut("no result before the request's deadline", details=details) from exc
    if isinstance(outcome, Failure):
        _raise_for(outcome, ask)
    assert isinstance(outcome, (Chunk, Answer))
    return outcome


def _cancel_later(ctx: Inference, ask: Ask, why: str) -> None:
    async def send() -> None:
        try:
            await ctx.publish(cancel_message(ctx.codec, ask.request_id, ask.model_id, ask.actor))
            log.info("cancelled inference %s (%s)", ask.request_id, why)
        except ApiError as exc:
            log.warning("could not cancel inference %s: %s", ask.request_id, exc.message)

    task = asyncio.create_task(send())
    _CANCELS.add(task)
    task.add_done_callback(_CANCELS.discard)


async def _until_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _or_disconnect(request: Request, work: Awaitable[Answer]) -> Answer | None:
    """``work``'s answer, or ``None`` when the client disconnected first (``work`` cancelled)."""
    job = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_until_disconnect(request))
    try:
        await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not job.done():
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
    return job.result() if not job.cancelled() else None


async def answer(ctx: Inference, request: Request, ask: Ask) -> Answer:
    """The final answer to ``ask`` (non-streaming); cancelled if the client disconnects."""
    depth = ctx.metrics.inference_queue_depth.labels(ask.model_id)
    async with ctx.results.subscribe(ask.request_id) as queue:
        depth.inc()
        try:
            await ctx.publish(request_message(ctx.codec, ask))

            async def final() -> Answer:
                while not isinstance(found := await _next(queue, ask), Answer):
                    pass
                return found

            result = await _or_disconnect(request, final())
        finally:
            depth.dec()
    if result is None:
        _cancel_later(ctx, ask, "client disconnected")
        raise InferenceFailedError("client disconnected", details={"request_id": ask.request_id})
    return structured(result, ask.kind)


async def stream(ctx: Inference, ask: Ask) -> AsyncGenerator[Chunk | Answer, None]:
    """Chunks, then the final answer; cancels the request when the consumer stops early."""
    depth = ctx.metrics.inference_queue_depth.labels(ask.model_id)
    finished = False
    async with ctx.results.subscribe(ask.request_id) as queue:
        depth.inc()
        try:
            await ctx.publish(request_message(ctx.codec, ask))
            while True:
                outcome = await _next(queue, ask)
                if isinstance(outcome, Answer):
                    finished = True
                    yield outcome
                    return
                yield outcome
        finally:
            depth.dec()
            if not finished:
                _cancel_later(ctx, ask, "stream ended early")


async def open_stream(ctx: Inference, ask: Ask) -> AsyncIterator[Chunk | Answer]:
    """``stream`` with its first step taken now, so publishing and 404/503 errors surface as the
    HTTP status (before the response starts) rather than inside a 200 event stream."""
    iterator = stream(ctx, ask)
    first = await anext(iterator)

    async def rest() -> AsyncIterator[Chunk | Answer]:
        try:
            yield first
            async for item in iterator:
                yield item
        finally:
            await iterator.aclose()

    return rest()


def new_ask(ctx: Inference, actor: str, model_id: str, kind: Kind, **fields: Any) -> Ask:
    """A request with a fresh id, ``max_tokens`` within the server's cap (422 past it), and the
    deadline of the server's inference timeout."""
    cap = ctx.resources.config.inference_max_tokens
    tokens = int(fields.get("max_tokens", 0))  # embeddings and similarity generate none
    if tokens > cap:
        raise InferenceRejected(
            f"max_tokens: {tokens} is more than this server's limit of {cap}",
            details={"fields": [{"field": "max_tokens", "location": "body",
                                 "message": f"at most {cap}", "type": "less_than_equal"}]},
            param="max_tokens",
        )  # fmt: skip
    deadline = time.time() + ctx.resources.config.inference_timeout_s
    return Ask(str(uuid.uuid4()), actor, model_id, kind, deadline_s=deadline, **fields)


def finish_reason(answer: Answer, ask: Ask) -> str:
    """The batcher's reason (v2), else ``length`` when the budget was used up, else ``stop``."""
    if answer.finish_reason:
        return answer.finish_reason
    return "length" if answer.completion_tokens >= ask.max_tokens else "stop"


async def with_keepalive(frames: AsyncIterator[bytes], interval_s: float) -> AsyncIterator[bytes]:
    """``frames``, with a keep-alive comment whenever ``interval_s`` passes without one (a slow
    model, a long queue): idle proxies and load balancers do not cut the stream."""
    iterator = aiter(frames)
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=interval_s)
            if not done:
                yield KEEPALIVE
                continue
            try:
                frame = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield frame
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
