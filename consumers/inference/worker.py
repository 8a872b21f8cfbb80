"""The inference handler: inference commands → batcher / registry → ``qllm.results.inference``.

``RunInference`` is handed to the ``Batcher`` and stays in flight until its final result is
acknowledged by Kafka; only then is its offset committed. ``LoadModel`` and ``UnloadModel`` act on
the registry at once and answer ``ModelLoaded`` (naming the models evicted to make room) /
``ModelUnloaded``; ``CancelInference`` marks a waiting or running request, which the batcher then
drops before its next step (it answers ``InferenceFailed("cancelled")``).

Per-handler choice: an undecodable message or a malformed request (unknown kind, chat without
messages …) is dead-lettered; a request the model cannot serve (unknown model, over budget, too
long) gets an ``InferenceFailed`` result, since its client is waiting for an answer.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import TopicPartition

from consumers.errors import ConsumerError
from consumers.inference.batcher import Answer, Batcher, Request
from consumers.inference.registry import ModelRegistry
from consumers.inference.wire import prompt_of, texts_of
from consumers.loop import Pending
from consumers.runtime import Resources
from consumers.wire import decode_command
from model import ModelError
from producers.publisher import Publisher
from producers.topics import RESULTS
from schemas.codec import Codec
from schemas.inference import (
    COMMANDS,
    CancelInference,
    InferenceChunk,
    InferenceCompleted,
    InferenceFailed,
    LoadModel,
    ModelLoaded,
    ModelUnloaded,
    RunInference,
    UnloadModel,
)
from schemas.records import Result, utc_now
from streams.deadletter import Message

log = logging.getLogger("consumers.inference")


class KafkaResults:
    """Results on ``qllm.results.inference`` keyed by request id, acknowledged before return."""

    def __init__(self, publisher: Publisher, codec: Codec, topic: str, actor: str) -> None:
        self._publisher, self._codec, self._topic, self._actor = publisher, codec, topic, actor

    async def _send(self, result: Result) -> None:
        value = self._codec.encode(result)
        await self._publisher.publish_raw(self._topic, result.stream_id.encode(), value)

    def _envelope(self, request_id: str, seq: int) -> dict[str, Any]:
        return {
            "event_id": f"{request_id}:{seq}",
            "stream_id": request_id,
            "seq": seq,
            "occurred_at": utc_now(),
            "causation_id": request_id,
            "actor": self._actor,
        }

    async def chunk(self, req: Request, index: int, text: str) -> None:
        await self._send(InferenceChunk(**self._envelope(req.request_id, index),
                                        model_id=req.model_id, text=text))  # fmt: skip

    async def final(self, req: Request, answer: Answer) -> None:
        result = InferenceCompleted(
            **self._envelope(req.request_id, req.chunks + 1), model_id=req.model_id,
            text=answer.text, prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens, kind=req.op,
            finish_reason=answer.finish_reason, embeddings=answer.embeddings,
            similarity=answer.similarity, texts=answer.texts,
        )  # fmt: skip
        await self._send(result)

    async def fail(self, req: Request, reason: str) -> None:
        await self.failed(req.request_id, req.model_id, reason, req.chunks + 1)

    async def failed(self, request_id: str, model_id: str, reason: str, seq: int = 1) -> None:
        await self._send(InferenceFailed(**self._envelope(request_id, seq), model_id=model_id,
                                         reason=reason))  # fmt: skip

    async def loaded(self, cmd: LoadModel, size: int, evicted: list[str]) -> None:
        await self._send(ModelLoaded(**self._envelope(cmd.stream_id, 1), model_id=cmd.model_id,
                                     worker_id=self._actor, size_bytes=size,
                                     evicted=evicted))  # fmt: skip

    async def unloaded(self, cmd: UnloadModel, was_loaded: bool) -> None:
        await self._send(ModelUnloaded(**self._envelope(cmd.stream_id, 1), model_id=cmd.model_id,
                                       worker_id=self._actor, was_loaded=was_loaded))  # fmt: skip


class InferenceHandler:
    def __init__(
        self, codec: Codec, registry: ModelRegistry, batcher: Batcher, results: KafkaResults
    ) -> None:
        self._codec, self.registry, self.batcher, self.results = codec, registry, batcher, results

    async def handle(self, message: Message) -> Pending | None:
        cmd = decode_command(self._codec, message, COMMANDS)
        if isinstance(cmd, CancelInference):
            self.batcher.cancel(cmd.stream_id)
            return None
        if isinstance(cmd, LoadModel):
            await self._load(cmd)
            return None
        if isinstance(cmd, UnloadModel):
            await self.results.unloaded(cmd, self.registry.unload(cmd.model_id))
            return None
        assert isinstance(cmd, RunInference)
        req = _request(cmd)
        self.batcher.submit(req)
        return req.done

    async def _load(self, cmd: LoadModel) -> None:
        before = len(self.registry.evicted)
        try:
            loaded = await self.registry.get(cmd.model_id)
        except (ConsumerError, ModelError, OSError) as exc:
            await self.results.failed(cmd.stream_id, cmd.model_id, f"{type(exc).__name__}: {exc}")
            return
        await self.results.loaded(cmd, loaded.size, self.registry.evicted[before:])

    async def release(self, partitions: set[TopicPartition]) -> None:
        return None  # requests in flight finish; a redelivered one is answered again

    async def close(self) -> None:
        await self.batcher.close()
        m = self.batcher.metrics
        log.info("batch sizes: mean %.2f max %d over %d steps, %d requests, %d tokens",
                 m.mean_size, m.max_size, sum(m.sizes.values()), m.requests, m.tokens)  # fmt: skip


def _request(cmd: RunInference) -> Request:
    deadline = cmd.deadline_ms / 1000 if cmd.deadline_ms is not None else None
    return Request(
        cmd.stream_id, cmd.model_id, cmd.kind, prompt_of(cmd), texts_of(cmd), cmd.max_tokens,
        cmd.temperature, cmd.stream, deadline, cmd.top_k, cmd.top_p, tuple(cmd.stop),
    )  # fmt: skip


def build_inference_handler(res: Resources) -> InferenceHandler:
    w = res.worker
    registry = ModelRegistry(w.models_root(), int(w.memory_budget_mb * 2**20), w.device)
    sink = KafkaResults(res.publisher, res.codec, res.settings.topic(RESULTS), w.worker_id)
    batcher = Batcher(registry, sink, w.max_batch_size, w.max_wait_ms / 1000,
                      w.continuous_batching, w.stream_interval_ms / 1000)  # fmt: skip
    return InferenceHandler(res.codec, registry, batcher, sink)
