"""``/api/v1/inference``: generate, chat, batch, embeddings, similarity; model capabilities.

Every call resolves the model first (404/409 before anything is written), writes one
``RunInference`` and waits for its result (``inference_client``). ``stream: true`` on generate
and chat answers ``text/event-stream``: ``event: chunk`` frames (``{"seq", "text"}``, text since
the previous chunk), then one ``event: done`` frame with the whole answer — or ``event: error``
with the error body if the request fails after the stream started. An idle stream gets a
``: keep-alive`` comment every 15 s (``inference_client.with_keepalive``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse

from api import model_catalog
from api.auth.permissions import Permission
from api.auth.principal import Principal, require, resources_of
from api.errors import ApiError
from api.inference_client import (
    Inference,
    answer,
    finish_reason,
    new_ask,
    open_stream,
    with_keepalive,
)
from api.inference_models import (
    MODEL_EXAMPLE,
    BatchIn,
    BatchOut,
    Capabilities,
    ChatIn,
    ChatMessage,
    ChatOut,
    EmbeddingsIn,
    EmbeddingsOut,
    GenerateIn,
    GenerateOut,
    Sampling,
    SimilarityIn,
    SimilarityOut,
    Usage,
)
from api.inference_wire import Answer, Ask, Chunk
from api.projection import ProjectionReader
from streams.sse import MEDIA_TYPE, encode_frame

router = APIRouter(prefix="/api/v1/inference", tags=["inference"])
Runner = Annotated[Principal, Depends(require(Permission.INFERENCE_RUN))]
Reader = Annotated[Principal, Depends(require(Permission.MODELS_READ))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such model"},
    409: {"description": "the model has no checkpoint yet"},
    422: {"description": "invalid request"},
    503: {"description": "Kafka unavailable"},
    504: {"description": "no answer before the deadline"},
}


def projection(request: Request) -> ProjectionReader:
    resources = resources_of(request)
    return ProjectionReader(resources.redis, resources.projection_keys)


async def _resolved(request: Request, model_id: str) -> model_catalog.ServedModel:
    return await model_catalog.resolve(projection(request), model_id)


def _sampling(body: Sampling) -> dict[str, Any]:
    return {"max_tokens": body.max_tokens, "temperature": body.temperature, "top_k": body.top_k,
            "top_p": body.top_p, "stop": tuple(body.stop), "seed": body.seed,
            "stream": body.stream}  # fmt: skip


def _usage(found: Answer) -> Usage:
    return Usage(prompt_tokens=found.prompt_tokens, completion_tokens=found.completion_tokens,
                 total_tokens=found.prompt_tokens + found.completion_tokens)  # fmt: skip


def _sse(items: AsyncIterator[Chunk | Answer], done: Any, keepalive_s: float) -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        try:
            async for item in items:
                if isinstance(item, Chunk):
                    yield encode_frame(
                        item.seq, "chunk", json.dumps({"seq": item.seq, "text": item.text})
                    )
                else:
                    yield encode_frame("done", "done", done(item).model_dump_json())
        except ApiError as exc:
            body = {"error": exc.code, "message": exc.message, "details": exc.details}
            yield encode_frame("error", "error", json.dumps(body))

    return StreamingResponse(with_keepalive(frames(), keepalive_s), media_type=MEDIA_TYPE,
                             headers={"Cache-Control": "no-cache"})  # fmt: skip


async def _run(request: Request, ask: Ask, done: Any) -> Any:
    ctx = Inference.of(request)
    if ask.stream:
        return _sse(await open_stream(ctx, ask), done, ctx.keepalive_s)
    return done(await answer(ctx, request, ask))


@router.post("/generate", response_model=GenerateOut, responses=_ERRORS,
             summary="Generate text from a prompt (stream: SSE)")  # fmt: skip
async def generate(body: GenerateIn, request: Request, caller: Runner) -> Any:
    await _resolved(request, body.model)
    ctx = Inference.of(request)
    fields = _sampling(body)
    ask = new_ask(ctx, caller.subject, body.model, "generate", prompt=body.prompt, **fields)

    def done(found: Answer) -> GenerateOut:
        reason = finish_reason(found, ask)
        return GenerateOut(request_id=ask.request_id, model=body.model, text=found.text,
                           finish_reason=reason, usage=_usage(found))  # fmt: skip

    return await _run(request, ask, done)


@router.post("/chat", response_model=ChatOut, responses=_ERRORS,
             summary="Answer a conversation (stream: SSE)")  # fmt: skip
async def chat(body: ChatIn, request: Request, caller: Runner) -> Any:
    await _resolved(request, body.model)
    ctx = Inference.of(request)
    messages = tuple((m.role, m.content) for m in body.messages)
    ask = new_ask(ctx, caller.subject, body.model, "chat", messages=messages, **_sampling(body))

    def done(found: Answer) -> ChatOut:
        reply = ChatMessage(role="assistant", content=found.text)
        return ChatOut(request_id=ask.request_id, model=body.model, message=reply,
                       finish_reason=finish_reason(found, ask), usage=_usage(found))  # fmt: skip

    return await _run(request, ask, done)


@router.post("/batch", response_model=BatchOut, responses=_ERRORS,
             summary="Generate for several prompts in one request")  # fmt: skip
async def batch(body: BatchIn, request: Request, caller: Runner) -> BatchOut:
    await _resolved(request, body.model)
    ctx = Inference.of(request)
    ask = new_ask(ctx, caller.subject, body.model, "batch", texts=tuple(body.prompts),
                  max_tokens=body.max_tokens, temperature=body.temperature)  # fmt: skip
    ctx.metrics.batch_size.labels(body.model).observe(len(body.prompts))
    found = await answer(ctx, request, ask)
    return BatchOut(request_id=ask.request_id, model=body.model, texts=found.texts)


@router.post("/embeddings", response_model=EmbeddingsOut, responses=_ERRORS,
             summary="Embed texts (one vector per text)")  # fmt: skip
async def embeddings(body: EmbeddingsIn, request: Request, caller: Runner) -> EmbeddingsOut:
    await _resolved(request, body.model)
    ctx = Inference.of(request)
    ask = new_ask(ctx, caller.subject, body.model, "embeddings", texts=tuple(body.texts))
    found = await answer(ctx, request, ask)
    dims = len(found.embeddings[0]) if found.embeddings else 0
    return EmbeddingsOut(request_id=ask.request_id, model=body.model, dimensions=dims,
                         embeddings=found.embeddings)  # fmt: skip


@router.post("/similarity", response_model=SimilarityOut, responses=_ERRORS,
             summary="Cosine similarity of two texts")  # fmt: skip
async def similarity(body: SimilarityIn, request: Request, caller: Runner) -> SimilarityOut:
    await _resolved(request, body.model)
    ctx = Inference.of(request)
    ask = new_ask(ctx, caller.subject, body.model, "similarity", texts=(body.text_a, body.text_b))
    found = await answer(ctx, request, ask)
    assert found.similarity is not None
    return SimilarityOut(request_id=ask.request_id, model=body.model, similarity=found.similarity)


@router.get("/models/{model_id}/capabilities", response_model=Capabilities,
            responses={404: {"description": "no such model"}},
            summary="What a model can do: kinds, streaming, context length")  # fmt: skip
async def capabilities(
    model_id: Annotated[str, Path(examples=[MODEL_EXAMPLE])], request: Request, caller: Reader
) -> Capabilities:
    served = await _resolved(request, model_id)
    config = served.config
    return Capabilities(
        model_id=served.model_id, preset=served.preset, owner=served.owner,
        kinds=list(served.kinds), streaming=True, context_length=config.max_seq_len,
        vocab_size=config.vocab_size,
        max_tokens=min(config.max_seq_len, resources_of(request).config.inference_max_tokens),
    )  # fmt: skip
