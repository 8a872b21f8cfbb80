"""OpenAI-compatible routes: ``/v1/models``, ``/v1/completions``, ``/v1/chat/completions``,
``/v1/embeddings`` — so OpenAI's clients and SDKs work unchanged against this server.

Same pipeline as ``/api/v1/inference`` (``inference_client``), OpenAI's shapes on the wire, and
OpenAI's error body (the one handler picks it for ``/v1``). Auth: OpenAI clients send their key
as ``Authorization: Bearer <key>``; an API key (or a JWT access token) there is accepted.
``stream: true`` answers ``data: <chunk JSON>`` frames and ends with ``data: [DONE]``; with
``stream_options.include_usage`` every chunk has ``usage: null`` and a last chunk with no
choices carries the usage. Embeddings come as floats or, as the Python SDK asks by default,
base64 of little-endian float32. A stream idle for ``keepalive_s`` (15 s) gets a ``: keep-alive``
comment, which SSE clients ignore (``inference_client.with_keepalive``).
"""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse

from api import model_catalog
from api.auth.permissions import Permission
from api.auth.principal import Principal, require
from api.errors import ApiError
from api.inference_client import (
    Inference,
    answer,
    finish_reason,
    new_ask,
    open_stream,
    with_keepalive,
)
from api.inference_wire import Answer, Ask, Chunk
from api.openai_models import (
    ChatCompletionIn,
    CompletionIn,
    EmbeddingIn,
    ModelCard,
    ModelList,
    chat_body,
    completion_body,
    usage,
)
from api.routers.inference import projection

router = APIRouter(prefix="/v1", tags=["openai"])
Runner = Annotated[Principal, Depends(require(Permission.INFERENCE_RUN))]
Reader = Annotated[Principal, Depends(require(Permission.MODELS_READ))]
DONE = b"data: [DONE]\n\n"


def _card(served: model_catalog.ServedModel) -> ModelCard:
    created = int(served.created.timestamp()) if served.created else 0
    return ModelCard(id=served.model_id, created=created, owned_by=served.owner)


@router.get("/models", response_model=ModelList, summary="List models (OpenAI)")
async def list_models(request: Request, caller: Reader) -> ModelList:
    served = await model_catalog.ready_models(projection(request))
    return ModelList(data=[_card(s) for s in served])


@router.get("/models/{model_id}", response_model=ModelCard, summary="Get a model (OpenAI)")
async def get_model(
    model_id: Annotated[str, Path(examples=["preset:tiny"])], request: Request, caller: Reader
) -> ModelCard:
    return _card(await model_catalog.resolve(projection(request), model_id))


def _frame(body: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


def _sse(
    items: AsyncIterator[Chunk | Answer],
    piece: Callable[[str, str | None], dict[str, Any]],
    last: Callable[[Answer], list[dict[str, Any]]],
    first: dict[str, Any] | None,
    keepalive_s: float,
) -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        if first is not None:
            yield _frame(first)
        try:
            async for item in items:
                if isinstance(item, Chunk):
                    yield _frame(piece(item.text, None))
                else:
                    for body in last(item):
                        yield _frame(body)
        except ApiError as exc:
            error = {"message": exc.message, "type": exc.openai_type, "param": exc.param,
                     "code": exc.code}  # fmt: skip
            yield _frame({"error": error})
        yield DONE

    headers = {"Cache-Control": "no-cache"}
    return StreamingResponse(with_keepalive(frames(), keepalive_s), media_type="text/event-stream",
                             headers=headers)  # fmt: skip


class _Chunks:
    """The chunk bodies of one streamed completion (``chat.completion.chunk`` or text)."""

    def __init__(self, ask: Ask, model: str, chat: bool, include_usage: bool) -> None:
        self.ask, self.model, self.chat, self.include_usage = ask, model, chat, include_usage
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{ask.request_id}"
        self.created = int(time.time())

    def body(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        out = {"id": self.id, "object": kind, "created": self.created, "model": self.model,
               "choices": choices}  # fmt: skip
        if self.include_usage:
            out["usage"] = None
        return out

    def piece(self, text: str, reason: str | None) -> dict[str, Any]:
        if self.chat:
            choice = {"index": 0, "delta": {"content": text} if text else {},
                      "logprobs": None, "finish_reason": reason}  # fmt: skip
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": reason}
        return self.body([choice])

    def last(self, found: Answer) -> list[dict[str, Any]]:
        out = [self.piece("", finish_reason(found, self.ask))]
        if self.include_usage:
            out.append({**self.body([]), "usage": usage(found.prompt_tokens,
                                                        found.completion_tokens)})  # fmt: skip
        return out

    def first(self) -> dict[str, Any]:
        role = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                "finish_reason": None}  # fmt: skip
        return self.body([role])


def _sampling(body: ChatCompletionIn | CompletionIn, max_tokens: int | None) -> dict[str, Any]:
    return {"max_tokens": max_tokens or 16, "temperature": body.temperature,
            "top_p": body.top_p, "stop": body.stops(), "seed": body.seed,
            "stream": body.stream}  # fmt: skip


async def _streamed(ctx: Inference, ask: Ask, chunks: _Chunks) -> StreamingResponse:
    first = chunks.first() if chunks.chat else None
    return _sse(await open_stream(ctx, ask), chunks.piece, chunks.last, first, ctx.keepalive_s)


@router.post("/chat/completions", summary="Create a chat completion (OpenAI)")
async def chat_completions(body: ChatCompletionIn, request: Request, caller: Runner) -> Any:
    await model_catalog.resolve(projection(request), body.model)
    ctx = Inference.of(request)
    messages = tuple(("user" if m.role == "tool" else m.role, m.text()) for m in body.messages)
    fields = _sampling(body, body.max_completion_tokens or body.max_tokens)
    ask = new_ask(ctx, caller.subject, body.model, "chat", messages=messages, **fields)
    include = bool(body.stream_options and body.stream_options.include_usage)
    chunks = _Chunks(ask, body.model, True, include)
    if body.stream:
        return await _streamed(ctx, ask, chunks)
    found = await answer(ctx, request, ask)
    used = usage(found.prompt_tokens, found.completion_tokens)
    return chat_body(chunks.id, chunks.created, body.model, found.text,
                     finish_reason(found, ask), used)  # fmt: skip


@router.post("/completions", summary="Create a text completion (OpenAI)")
async def completions(body: CompletionIn, request: Request, caller: Runner) -> Any:
    await model_catalog.resolve(projection(request), body.model)
    ctx = Inference.of(request)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    fields = _sampling(body, body.max_tokens)
    include = bool(body.stream_options and body.stream_options.include_usage)
    if len(prompts) == 1:
        ask = new_ask(ctx, caller.subject, body.model, "generate", prompt=prompts[0], **fields)
        chunks = _Chunks(ask, body.model, False, include)
        if body.stream:
            return await _streamed(ctx, ask, chunks)
        found = await answer(ctx, request, ask)
        choice = {"index": 0, "text": found.text, "logprobs": None,
                  "finish_reason": finish_reason(found, ask)}  # fmt: skip
        used = usage(found.prompt_tokens, found.completion_tokens)
        return completion_body(chunks.id, chunks.created, body.model, [choice], used)
    fields.pop("stream")
    ask = new_ask(ctx, caller.subject, body.model, "batch", texts=tuple(prompts), **fields)
    found = await answer(ctx, request, ask)
    choices = [{"index": i, "text": t, "logprobs": None, "finish_reason": "stop"}
               for i, t in enumerate(found.texts)]  # fmt: skip
    return completion_body(f"cmpl-{ask.request_id}", int(time.time()), body.model, choices,
                           usage(found.prompt_tokens, found.completion_tokens))  # fmt: skip


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@router.post("/embeddings", summary="Create embeddings (OpenAI)")
async def embeddings(body: EmbeddingIn, request: Request, caller: Runner) -> dict[str, Any]:
    await model_catalog.resolve(projection(request), body.model)
    ctx = Inference.of(request)
    texts = (body.input,) if isinstance(body.input, str) else tuple(body.input)
    ask = new_ask(ctx, caller.subject, body.model, "embeddings", texts=texts)
    found = await answer(ctx, request, ask)
    data = [{"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
            for i, v in enumerate(found.embeddings)]  # fmt: skip
    return {"object": "list", "data": data, "model": body.model,
            "usage": {"prompt_tokens": found.prompt_tokens,
                      "total_tokens": found.prompt_tokens}}  # fmt: skip
