"""Inference requests, model load/unload and their results (no lifecycle: requests have results).

Everything here travels on ``qllm.commands.inference`` keyed by ``model_id`` (so one model's
requests, loads, unloads and cancels meet in the one batcher that owns the model's partition).
A command's ``stream_id`` is its request id, which keys its results on
``qllm.results.inference``: zero or more ``InferenceChunk`` (streaming), then exactly one final
``InferenceCompleted`` | ``InferenceFailed`` (``ModelLoaded`` | ``ModelUnloaded`` |
``InferenceFailed`` for a load or unload).

Deliberate choices:
- ``RunInference`` v2 names its ``kind`` and options in the record (v1 carried them in Kafka
  headers): ``generate`` (prompt), ``chat`` (``messages``: maps with ``role`` and ``content``),
  ``embeddings`` / ``batch`` (``texts``), ``similarity`` (two ``texts``).
- ``ModelLoaded`` / ``ModelUnloaded`` are results, not model-stream events: which batcher holds
  which model in memory is that worker's cache (it changes with eviction and restarts), not a fact
  of the model's lifecycle; the model stream stays single-writer (its handler and the trainer).
- ``CancelInference`` names the request it cancels by its ``stream_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.records import Command, Event, Result

KINDS = ("generate", "chat", "embeddings", "similarity", "batch")
GENERATIVE = ("generate", "chat")


@dataclass(frozen=True, kw_only=True, slots=True)
class RunInference(Command):
    model_id: str
    prompt: str
    max_tokens: int = 64
    temperature: float = 1.0
    # v2: what to run and how (v1 requests decode as a non-streaming ``generate``)
    kind: str = "generate"
    messages: list[dict[str, str]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    stream: bool = False
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    deadline_ms: int | None = None  # epoch milliseconds: give up (and stop computing) after it


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelInference(Command):
    """Cancel request ``stream_id`` (the client has gone); keyed by ``model_id``."""

    model_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadModel(Command):
    model_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class UnloadModel(Command):
    model_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class InferenceChunk(Result):
    """Text generated since the previous chunk of a streaming request; ``seq`` counts from 1."""

    model_id: str
    text: str
    tokens: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class InferenceCompleted(Result):
    model_id: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    # v2: the kind answered and its structured answer (v1: everything as JSON in ``text``)
    kind: str = "generate"
    finish_reason: str | None = None  # "stop" (end of text or a stop string) | "length"
    embeddings: list[list[float]] = field(default_factory=list)
    similarity: float | None = None
    texts: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class InferenceFailed(Result):
    model_id: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelLoaded(Result):
    model_id: str
    worker_id: str
    size_bytes: int
    evicted: list[str] = field(default_factory=list)  # models evicted to make room (LRU first)


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelUnloaded(Result):
    model_id: str
    worker_id: str
    was_loaded: bool


COMMANDS: tuple[type[Command], ...] = (RunInference, CancelInference, LoadModel, UnloadModel)
EVENTS: tuple[type[Event], ...] = ()
RESULTS: tuple[type[Result], ...] = (
    InferenceChunk, InferenceCompleted, InferenceFailed, ModelLoaded, ModelUnloaded,
)  # fmt: skip
