"""Inference requests and their results (no lifecycle: a request has one result).

``RunInference`` travels on ``qllm.commands.inference`` keyed by ``model_id`` (so one model's
requests meet in one batcher); its ``stream_id`` is the request id, which keys the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.records import Command, Event, Result


@dataclass(frozen=True, kw_only=True, slots=True)
class RunInference(Command):
    model_id: str
    prompt: str
    max_tokens: int = 64
    temperature: float = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class InferenceCompleted(Result):
    model_id: str
    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, kw_only=True, slots=True)
class InferenceFailed(Result):
    model_id: str
    reason: str


COMMANDS: tuple[type[Command], ...] = (RunInference,)
EVENTS: tuple[type[Event], ...] = ()
RESULTS: tuple[type[Result], ...] = (InferenceCompleted, InferenceFailed)
