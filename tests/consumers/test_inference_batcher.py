"""The inference batcher against the real stack: batching, streaming, models, cancel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.inference.registry import load_model
from model import GenerationConfig, save_checkpoint
from schemas.inference import CancelInference, LoadModel, RunInference, UnloadModel
from schemas.records import Record, command
from tests.consumers.support import publish, read_results, running_worker

pytestmark = pytest.mark.stack
MODEL = "preset:tiny"


def ask(rid: str, prompt: str, model: str = MODEL, tokens: int = 8, **options: Any) -> RunInference:
    return command(RunInference, rid, "alice", model_id=model, prompt=prompt, max_tokens=tokens,
                   temperature=0.0, **options)  # fmt: skip


def finals(results: list[tuple[Record, str]]) -> dict[str, Any]:
    return {r.stream_id: r for r, kind in results if kind == "final"}


async def test_concurrent_requests_are_batched_and_each_answered_as_if_alone(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    worker = worker_settings.model_copy(update={"max_wait_ms": 100.0, "max_batch_size": 8})
    prompts = {f"r{i}": f"def function_{i}(x):" for i in range(16)}
    async with running_worker("inference", stack, worker) as loop:
        await publish(stack, *(ask(rid, p) for rid, p in prompts.items()))
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
        await publish(stack, ask("s1", "import os", tokens=12, stream=True))
        results = await read_results(stack, lambda rs: "s1" in finals(rs))
    chunks: list[Any] = [r for r, kind in results if kind == "chunk"]
    assert len(chunks) >= 2 and all(c.type == "InferenceChunk" for c in chunks)
    assert [c.seq for c in chunks] == list(range(1, len(chunks) + 1))
    final = finals(results)["s1"]
    assert "".join(c.text for c in chunks) == final.text and final.seq == len(chunks) + 1
    assert final.finish_reason in ("stop", "length") and final.kind == "generate"


async def test_cancelled_and_expired_requests_stop_and_fail(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    async with running_worker("inference", stack, worker_settings) as loop:
        past = int(time.time() * 1000) - 1000
        await publish(
            stack, ask("long", "class A:", tokens=100), ask("late", "x = 1", deadline_ms=past)
        )
        await publish(stack, command(CancelInference, "long", "alice", model_id=MODEL))
        results = await read_results(stack, lambda rs: {"long", "late"} <= set(finals(rs)))
        tokens = loop.handler.batcher.metrics.tokens  # type: ignore[attr-defined]
    answers = finals(results)
    assert answers["long"].type == "InferenceFailed"
    assert answers["long"].reason == "cancelled"  # type: ignore[attr-defined]
    assert answers["late"].reason == "deadline exceeded"  # type: ignore[attr-defined]
    assert tokens == 0  # neither produced a finished completion


async def test_embeddings_similarity_batch_and_chat_are_answered_in_their_own_fields(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    async with running_worker("inference", stack, worker_settings):
        await publish(
            stack,
            ask("e1", "", kind="embeddings", texts=["alpha", "beta gamma"]),
            ask("q1", "", kind="similarity", texts=["same text", "same text"]),
            ask("b1", "", kind="batch", texts=["import", "def"], tokens=4),
            ask("c1", "", kind="chat", messages=[{"role": "user", "content": "hi"}], tokens=4),
        )
        results = await read_results(stack, lambda rs: {"e1", "q1", "b1", "c1"} <= set(finals(rs)))
    answers = finals(results)
    vectors = answers["e1"].embeddings
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 0
    assert answers["q1"].similarity == pytest.approx(1.0, abs=1e-5)
    assert len(answers["b1"].texts) == 2 and answers["b1"].kind == "batch"
    assert answers["c1"].type == "InferenceCompleted" and answers["c1"].kind == "chat"


async def test_stop_strings_end_the_text_before_them(
    stack: Settings, worker_settings: WorkerSettings
) -> None:
    engine = load_model(Path("."), MODEL, "cpu").engine
    alone = engine.generate("def f(x):", GenerationConfig(max_new_tokens=12, temperature=0.0))[0]
    stop = alone.text[3:5]  # a piece of what the model says anyway
    async with running_worker("inference", stack, worker_settings):
        await publish(stack, ask("st", "def f(x):", tokens=12, stop=[stop]))
        results = await read_results(stack, lambda rs: "st" in finals(rs))
    answer = finals(results)["st"]
    assert answer.text == alone.text[: alone.text.find(stop)] and answer.finish_reason == "stop"


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
            await publish(stack, command(LoadModel, f"load-{m}", "alice", model_id=m))
            await read_results(stack, lambda rs, n=n: len(finals(rs)) == n)  # type: ignore[misc]
        assert registry.loaded() == ["m2", "m3"] and registry.evictions == 1
        await publish(stack, command(UnloadModel, "unload-m2", "alice", model_id="m2"),
                      ask("gen-m3", "import", model="m3"))  # fmt: skip
        results = await read_results(stack, lambda rs: len(finals(rs)) == 5)
        assert registry.loaded() == ["m3"]
    answers = finals(results)
    assert {answers[f"load-{m}"].type for m in ("m1", "m2", "m3")} == {"ModelLoaded"}
    assert answers["load-m3"].evicted == ["m1"] and answers["load-m2"].evicted == []
    assert answers["load-m1"].size_bytes == base.size
    assert answers["unload-m2"].type == "ModelUnloaded" and answers["unload-m2"].was_loaded
    assert answers["gen-m3"].type == "InferenceCompleted"
