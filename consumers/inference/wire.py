"""The batcher's wire: ``RunInference`` plus headers in, ``InferenceCompleted``/``Failed`` out.

Deliberate divergence (the schemas have no records for it yet): ``RunInference`` carries only
``model_id, prompt, max_tokens, temperature``, so the rest of a request travels in Kafka headers
of the same message, leaving the Avro body valid for every other reader:

| header | values | meaning |
|---|---|---|
| ``qllm-op`` | ``generate`` (default), ``chat``, ``embed``, ``similarity``, ``batch``, |
|  | ``load``, ``unload``, ``cancel`` | what to do |
| ``qllm-stream`` | ``1`` | send token chunks before the final result |
| ``qllm-deadline-ms`` | epoch milliseconds | give up (and stop computing) after it |

``chat`` takes the prompt as a JSON list of ``{"role", "content"}``; ``similarity`` a JSON pair of
texts; ``embed`` and ``batch`` a JSON list of texts (``embed`` also a plain string); ``cancel``
names the request to cancel by its ``stream_id``. Results are keyed by request id; chunks are
``InferenceCompleted`` records with header ``qllm-kind: chunk`` and ``seq`` = chunk number, the
answer has ``qllm-kind: final`` (embeddings, similarity and batch results as JSON text).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from consumers.errors import Poison
from schemas.inference import RunInference

OPS = ("generate", "chat", "embed", "similarity", "batch", "load", "unload", "cancel")
GENERATIVE = ("generate", "chat")
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Intent:
    op: str = "generate"
    stream: bool = False
    deadline: float | None = None  # epoch seconds


def parse_headers(headers: Any) -> Intent:
    found = {k: bytes(v).decode() for k, v in (headers or ())}
    op = found.get("qllm-op", "generate")
    if op not in OPS:
        raise Poison("UnknownOperation", f"qllm-op {op!r} is not one of {', '.join(OPS)}", op)
    deadline = found.get("qllm-deadline-ms")
    try:
        when = float(deadline) / 1000 if deadline else None
    except ValueError as exc:
        raise Poison("BadHeader", f"qllm-deadline-ms {deadline!r}", deadline) from exc
    return Intent(op, found.get("qllm-stream") == "1", when)


def headers_for(op: str, stream: bool = False, deadline_s: float | None = None) -> Headers:
    """What a client (the API, a benchmark) sends along a ``RunInference``."""
    out = [("qllm-op", op.encode())]
    if stream:
        out.append(("qllm-stream", b"1"))
    if deadline_s is not None:
        out.append(("qllm-deadline-ms", str(int((time.time() + deadline_s) * 1000)).encode()))
    return out


def chat_prompt(prompt: str) -> str:
    """The chat messages as one prompt, ending where the assistant speaks."""
    try:
        messages = json.loads(prompt)
        turns = [f"<|{m['role']}|>{m['content']}" for m in messages]
    except (ValueError, TypeError, KeyError) as exc:
        raise Poison("BadChat", f"chat prompt is not a list of messages: {exc}", prompt) from exc
    return "".join(turns) + "<|assistant|>"


def texts_of(cmd: RunInference, exactly: int | None = None) -> list[str]:
    try:
        value = json.loads(cmd.prompt)
    except ValueError:
        value = cmd.prompt
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise Poison("BadTexts", "prompt is not a text or a JSON list of texts", cmd.prompt)
    if exactly is not None and len(texts) != exactly:
        raise Poison("BadTexts", f"expected {exactly} texts, got {len(texts)}", len(texts))
    return texts
