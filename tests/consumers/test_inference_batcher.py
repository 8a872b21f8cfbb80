"""The inference batcher against the real stack: batching, streaming, models, cancel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.inference.registry import load_model
from consumers.inference.wire import headers_for
from model import GenerationConfig, save_checkpoint
from producers.publisher import Publisher
from producers.topics import INFERENCE, provision
from schemas.codec import default_codec
from schemas.inference import RunInference
from schemas.records import Record, command
from tests.consumers.support import read_results, running_worker

pytestmark = pytest.mark.stack
MODEL = "preset:tiny"


async def send(settings: Settings, *requests: tuple[RunInference, str, bool, float | None]) -> None:
    await provision(settings)
    async with Publisher(settings) as publisher:
        for cmd, op, stream, deadline in requests:
            await publisher.publish_raw(settings.topic(INFERENCE), cmd.model_id.encode(),
                                        default_codec().encode(cmd),
                                        headers_for(op, stream, deadline))  # fmt: skip


def ask(rid: str, prompt: str, model: str = MODEL, tokens: int = 8) -> RunInference:
    return command(RunInference, rid, "alice", model_id=model, prompt=prompt, max_tokens=tokens,
                   temperature=0.0)  # fmt: skip


def finals(results: list[tuple[Record, str]]) -> dict[str, Record]:
    return {r.stream_id: r for r, kind in results if kind == "final"}


async def test_concurrent_requests_are_batched_and_each_answered_as_if_alone(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    worker = worker_settings.model_copy(update={"max_wait_ms": 100.0, "max_batch_size": 8})
    prompts = {f"r{i}": f"def function_{i}(x):" for i in range(16)}
    async with running_worker("inference", stack, worker) as loop:
        await send(stack, *((ask(rid, p), "generate", False, None) for rid, p in prompts.items()))
        results = await read_results(stack, lambda rs: len(finals(rs)) == len(prompts), 120)
        metrics = loop.handler.batcher.metrics  # type: ignore[attr-defined]
    engine = load_model(Path("."), MODEL, "cpu").engine
    config = GenerationConfig(max_new_tokens=8, temperature=0.0)
    for rid, prompt in prompts.items():
        alone = engine.generate(prompt, config)[0]
        answer = finals(results)[rid]
        assert answer.type == "InferenceCompleted"
        assert answer.text == alone.text  # type: ignore[attr-defined]
    assert metrics.max_size > 1
    assert metrics.requests == len(prompts)


async def test_streaming_sends_chunks_that_join_to_the_final_text(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    async with running_worker("inference", stack, worker_settings):
        await send(stack, (ask("s1", "import os", tokens=12), "generate", True, None))
        results = await read_results(stack, lambda rs: "s1" in finals(rs))
    chunks = [r for r, kind in results if kind == "chunk"]
    assert len(chunks) >= 2
    assert [c.seq for c in chunks] == list(range(1, len(chunks) + 1))
    assert "".join(c.text for c in chunks) == finals(results)["s1"].text  # type: ignore[attr-defined]


async def test_cancelled_and_expired_requests_stop_and_fail(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    async with running_worker("inference", stack, worker_settings) as loop:
        await send(
            stack,
            (ask("long", "class A:", tokens=100), "generate", False, None),
            (ask("late", "x = 1", tokens=8), "generate", False, -1.0),
        )
        await send(stack, (ask("long", ""), "cancel", False, None))
        results = await read_results(stack, lambda rs: {"long", "late"} <= set(finals(rs)))
        tokens = loop.handler.batcher.metrics.tokens  # type: ignore[attr-defined]
    answers = finals(results)
    assert answers["long"].type == "InferenceFailed"
    assert answers["long"].reason == "cancelled"  # type: ignore[attr-defined]
    assert answers["late"].reason == "deadline exceeded"  # type: ignore[attr-defined]
    assert tokens == 0  # neither produced a finished completion


async def test_embeddings_and_similarity_are_answered(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    async with running_worker("inference", stack, worker_settings):
        await send(
            stack,
            (ask("e1", json.dumps(["alpha", "beta gamma"])), "embed", False, None),
            (ask("q1", json.dumps(["same text", "same text"])), "similarity", False, None),
        )
        results = await read_results(stack, lambda rs: {"e1", "q1"} <= set(finals(rs)))
    vectors = json.loads(finals(results)["e1"].text)  # type: ignore[attr-defined]
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 0
    similarity = json.loads(finals(results)["q1"].text)["similarity"]  # type: ignore[attr-defined]
    assert similarity == pytest.approx(1.0, abs=1e-5)


async def test_load_unload_and_least_recently_used_eviction_under_the_budget(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    root = Path(worker_settings.models_root())
    base = load_model(root, MODEL, "cpu")
    for name in ("m1", "m2", "m3"):
        save_checkpoint(root / name, base.engine.model, base.engine.tokenizer)
    budget_mb = 2.5 * base.size / 2**20  # room for two models, not three
    worker = worker_settings.model_copy(update={"memory_budget_mb": budget_mb})
    async with running_worker("inference", stack, worker) as loop:
        registry = loop.handler.registry  # type: ignore[attr-defined]
        for n, m in enumerate(("m1", "m2", "m3"), 1):  # one by one: models key different partitions
            await send(stack, (ask(f"load-{m}", "", model=m), "load", False, None))
            await read_results(stack, lambda rs, n=n: len(finals(rs)) == n)  # type: ignore[misc]
        assert registry.loaded() == ["m2", "m3"] and registry.evictions == 1
        await send(stack, (ask("unload-m2", "", model="m2"), "unload", False, None),
                   (ask("gen-m3", "import", model="m3"), "generate", False, None))  # fmt: skip
        results = await read_results(stack, lambda rs: len(finals(rs)) == 5)
        assert registry.loaded() == ["m3"]
    answers = finals(results)
    assert {answers[f"load-{m}"].text for m in ("m1", "m2", "m3")} == {"loaded"}  # type: ignore[attr-defined]
    assert answers["unload-m2"].text == "unloaded"  # type: ignore[attr-defined]
    assert answers["gen-m3"].type == "InferenceCompleted"
