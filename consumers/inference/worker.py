"""The inference handler: ``RunInference`` (+ headers, see ``wire``) → batcher → results topic.

Generative and other model requests are handed to the ``Batcher`` and stay in flight until their
final result is acknowledged by Kafka; only then is their offset committed. ``load`` and
``unload`` act on the registry at once; ``cancel`` marks a waiting or running request, which the
batcher then drops before its next step.

Per-handler choice: an undecodable message or bad headers/prompt is dead-lettered; a request the
model cannot serve (unknown model, over budget, too long) gets an ``InferenceFailed`` result,
since its client is waiting for an answer.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import TopicPartition

from consumers.errors import ConsumerError
from consumers.inference.batcher import Batcher, Request
from consumers.inference.registry import ModelRegistry
from consumers.inference.wire import GENERATIVE, Intent, chat_prompt, parse_headers, texts_of
from consumers.loop import Pending
from consumers.runtime import Resources
from consumers.wire import Delivery, decode_command
from model import ModelError
from producers.publisher import Publisher
from producers.topics import RESULTS
from schemas.codec import Codec
from schemas.inference import InferenceCompleted, InferenceFailed, RunInference
from schemas.records import Result, utc_now
from streams.deadletter import Message

log = logging.getLogger("consumers.inference")


class KafkaResults:
    """Results on ``qllm.results.inference`` keyed by request id, acknowledged before return."""

    def __init__(self, publisher: Publisher, codec: Codec, topic: str, actor: str) -> None:
        self._publisher, self._codec, self._topic, self._actor = publisher, codec, topic, actor

    async def _send(self, result: Result, kind: bytes) -> None:
        await self._publisher.publish_raw(
            self._topic,
            result.stream_id.encode(),
            self._codec.encode(result),
            [("qllm-kind", kind)],
        )

    def _envelope(self, req: Request, seq: int) -> dict[str, Any]:
        return {
            "event_id": f"{req.request_id}:{seq}",
            "stream_id": req.request_id,
            "seq": seq,
            "occurred_at": utc_now(),
            "causation_id": req.request_id,
            "actor": self._actor,
        }

    async def chunk(self, req: Request, index: int, text: str) -> None:
        result = InferenceCompleted(
            **self._envelope(req, index),
            model_id=req.model_id,
            text=text,
            prompt_tokens=0,
            completion_tokens=0,
        )
        await self._send(result, b"chunk")

    async def final(self, req: Request, text: str, prompt_tokens: int, completion: int) -> None:
        result = InferenceCompleted(
            **self._envelope(req, req.chunks + 1),
            model_id=req.model_id,
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion,
        )
        await self._send(result, b"final")

    async def fail(self, req: Request, reason: str) -> None:
        result = InferenceFailed(
            **self._envelope(req, req.chunks + 1), model_id=req.model_id, reason=reason
        )
        await self._send(result, b"final")


class InferenceHandler:
    def __init__(self, codec: Codec, registry: ModelRegistry, batcher: Batcher) -> None:
        self._codec, self.registry, self.batcher = codec, registry, batcher

    async def handle(self, message: Message) -> Pending | None:
        cmd = decode_command(self._codec, message, (RunInference,))
        assert isinstance(cmd, RunInference)
        intent = parse_headers(message.headers if isinstance(message, Delivery) else ())
        if intent.op == "cancel":
            self.batcher.cancel(cmd.stream_id)
            return None
        req = self._request(cmd, intent)
        if intent.op in ("load", "unload"):
            await self._manage(req, intent.op)
            return None
        self.batcher.submit(req)
        return req.done

    def _request(self, cmd: RunInference, intent: Intent) -> Request:
        prompt = chat_prompt(cmd.prompt) if intent.op == "chat" else cmd.prompt
        texts = (
            []
            if intent.op in (*GENERATIVE, "load", "unload")
            else texts_of(cmd, 2 if intent.op == "similarity" else None)
        )
        return Request(cmd.stream_id, cmd.model_id, intent.op, prompt, texts, cmd.max_tokens,
                       cmd.temperature, intent.stream, intent.deadline)  # fmt: skip

    async def _manage(self, req: Request, op: str) -> None:
        if op == "unload":
            gone = self.registry.unload(req.model_id)
            await self.batcher.sink.final(req, "unloaded" if gone else "not loaded", 0, 0)
            return
        try:
            await self.registry.get(req.model_id)
        except (ConsumerError, ModelError, OSError) as exc:
            await self.batcher.sink.fail(req, f"{type(exc).__name__}: {exc}")
            return
        await self.batcher.sink.final(req, "loaded", 0, 0)

    async def release(self, partitions: set[TopicPartition]) -> None:
        return None  # requests in flight finish; a redelivered one is answered again

    async def close(self) -> None:
        await self.batcher.close()
        m = self.batcher.metrics
        log.info("batch sizes: mean %.2f max %d over %d steps, %d requests, %d tokens",
                 m.mean_size, m.max_size, sum(m.sizes.values()), m.requests, m.tokens)  # fmt: skip


def build_inference_handler(res: Resources) -> InferenceHandler:
    w = res.worker
    registry = ModelRegistry(w.models_root(), int(w.memory_budget_mb * 2**20), w.device)
    sink = KafkaResults(res.publisher, res.codec, res.settings.topic(RESULTS), w.worker_id)
    batcher = Batcher(registry, sink, w.max_batch_size, w.max_wait_ms / 1000,
                      w.continuous_batching)  # fmt: skip
    return InferenceHandler(res.codec, registry, batcher)
