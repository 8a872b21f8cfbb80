"""The batcher's wire (requests from records), batch metrics and sampling filters (pure)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from consumers.errors import Poison
from consumers.inference.batcher import BatchMetrics
from consumers.inference.decoder import Row, _filtered
from consumers.inference.wire import chat_prompt, prompt_of, texts_of
from schemas.inference import RunInference
from schemas.records import command


def ask(**options: Any) -> RunInference:
    return command(RunInference, "r1", "alice", **{"model_id": "m", "prompt": "p", **options})


def test_chat_messages_become_a_prompt_ending_where_the_assistant_speaks() -> None:
    prompt = prompt_of(ask(kind="chat", messages=[{"role": "user", "content": "hi"}]))
    assert prompt == "<|user|>hi<|assistant|>"
    with pytest.raises(Poison, match="lacks"):
        chat_prompt([{"content": "no role"}])


@pytest.mark.parametrize(
    "options",
    [{"kind": "translate"}, {"kind": "chat"}, {"kind": "similarity", "texts": ["only one"]},
     {"kind": "embeddings", "prompt": ""}],
    ids=["unknown-kind", "chat-without-messages", "similarity-of-one", "embeddings-of-nothing"],
)  # fmt: skip
def test_a_malformed_request_is_poison(options: dict[str, Any]) -> None:
    with pytest.raises(Poison):
        cmd = ask(**options)
        texts_of(cmd)
        prompt_of(cmd)


def test_texts_default_to_the_prompt_and_generation_has_none() -> None:
    assert texts_of(ask(kind="embeddings")) == ["p"]
    assert texts_of(ask(kind="batch", texts=["a", "b"])) == ["a", "b"]
    assert texts_of(ask()) == []


def test_top_k_and_top_p_keep_only_the_likeliest_tokens() -> None:
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    top_k = _filtered(probs, Row([1], 4, 1.0, top_k=2))
    assert top_k.tolist() == pytest.approx([0.5, 0.3, 0.0, 0.0])
    top_p = _filtered(probs, Row([1], 4, 1.0, top_p=0.85))
    assert top_p.tolist() == pytest.approx([0.5, 0.3, 0.15, 0.0])


def test_batch_metrics_keep_a_histogram_of_sizes() -> None:
    metrics = BatchMetrics()
    for size in (1, 4, 4, 8):
        metrics.observe(size)
    assert metrics.sizes[4] == 2 and metrics.max_size == 8 and metrics.mean_size == 17 / 4
