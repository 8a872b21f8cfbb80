"""The API's side of the inference wire: the command it writes, the results it reads.

The one module to edit when the batcher's wire changes. ``RunInference`` v2 carries everything
in the record: ``kind``, ``messages`` (chat), ``texts`` (embeddings, batch, similarity),
sampling options, ``stream`` and ``deadline_ms`` (epoch milliseconds: the batcher stops
computing past it). A cancel is a ``CancelInference`` naming the request by its ``stream_id``.
Both are keyed by model id (``producers.topics``), so a request and its cancel meet in one
batcher.

Results: zero or more ``InferenceChunk`` (streaming), then one ``InferenceCompleted`` (kind-
specific fields: ``embeddings``, ``similarity``, ``texts``) or ``InferenceFailed``. A v1 batcher's
shapes (a chunk as an ``InferenceCompleted`` with header ``qllm-kind: chunk``, structured answers
as JSON ``text``) are still understood on the way in: records outlive the code that wrote them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from producers.topics import INFERENCE
from schemas.codec import Codec
from schemas.inference import (
    CancelInference,
    InferenceChunk,
    InferenceCompleted,
    InferenceFailed,
    RunInference,
)
from schemas.records import Record, command

Kind = Literal["generate", "chat", "embeddings", "similarity", "batch"]
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Ask:
    """One inference request as the API builds it (validated by the route's wire model)."""

    request_id: str
    actor: str
    model_id: str
    kind: Kind
    prompt: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    texts: tuple[str, ...] = ()
    max_tokens: int = 64
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False
    deadline_s: float | None = None  # epoch seconds


@dataclass(frozen=True)
class Message:
    """An encoded Kafka message: topic name (unprefixed), key, value, headers."""

    topic: str
    key: bytes
    value: bytes
    headers: Headers


@dataclass(frozen=True)
class Chunk:
    seq: int
    text: str


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    embeddings: list[list[float]] = field(default_factory=list)
    similarity: float | None = None
    texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    reason: str


Outcome = Chunk | Answer | Failure


def request_message(codec: Codec, ask: Ask) -> Message:
    deadline_ms = None if ask.deadline_s is None else int(ask.deadline_s * 1000)
    record = command(
        RunInference, ask.request_id, ask.actor, model_id=ask.model_id, prompt=ask.prompt,
        max_tokens=ask.max_tokens, temperature=ask.temperature, kind=ask.kind,
        messages=[{"role": r, "content": c} for r, c in ask.messages], texts=list(ask.texts),
        stream=ask.stream, top_k=ask.top_k, top_p=ask.top_p, stop=list(ask.stop), seed=ask.seed,
        deadline_ms=deadline_ms,
    )  # fmt: skip
    return Message(INFERENCE, ask.model_id.encode(), codec.encode(record), [])


def cancel_message(codec: Codec, request_id: str, model_id: str, actor: str) -> Message:
    record = command(CancelInference, request_id, actor, model_id=model_id,
                     reason="client disconnected")  # fmt: skip
    return Message(INFERENCE, model_id.encode(), codec.encode(record), [])


def _answer(result: InferenceCompleted) -> Answer:
    return Answer(
        result.text, result.prompt_tokens, result.completion_tokens, result.finish_reason,
        [list(v) for v in result.embeddings], result.similarity, list(result.texts),
    )  # fmt: skip


def structured(answer: Answer, kind: Kind) -> Answer:
    """``answer`` with its v1 JSON text unpacked into the field of ``kind`` (v2 already is)."""
    if kind == "embeddings" and not answer.embeddings:
        return Answer(**{**answer.__dict__, "embeddings": json.loads(answer.text)})
    if kind == "similarity" and answer.similarity is None:
        value = float(json.loads(answer.text)["similarity"])
        return Answer(**{**answer.__dict__, "similarity": value})
    if kind == "batch" and not answer.texts:
        return Answer(**{**answer.__dict__, "texts": list(json.loads(answer.text))})
    return answer


def outcome_of(record: Record, kind_header: bytes | None) -> Outcome | None:
    """What a result record means for its request; ``None`` for results the API ignores."""
    if isinstance(record, InferenceChunk):
        return Chunk(record.seq, record.text)
    if isinstance(record, InferenceCompleted):
        if kind_header == b"chunk":
            return Chunk(record.seq, record.text)
        return _answer(record)
    if isinstance(record, InferenceFailed):
        return Failure(record.reason)
    return None
