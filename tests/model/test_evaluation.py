from __future__ import annotations

import math

import torch

from model import Document, ModelConfig, Tokenizer, build_model, compare, distinct_n, evaluate
from model.evaluation import sliding_window_nll


def test_distinct_n_counts_unique_ngrams() -> None:
    assert distinct_n([[1, 2, 1, 2]], 1) == 0.5
    assert distinct_n([[1, 2, 1, 2]], 2) == 2 / 3
    assert distinct_n([[1]], 2) == 0.0


def test_sliding_window_scores_every_token_once_whatever_the_stride(tiny: ModelConfig) -> None:
    model = build_model(tiny)
    ids = torch.randint(0, tiny.vocab_size, (50,))
    a = sliding_window_nll(model, ids, window=16, stride=16)
    b = sliding_window_nll(model, ids, window=16, stride=8)
    assert a.tokens == b.tokens == 49
    assert b.nll < a.nll + 1.0  # more context per token can only help a little on random ids
    assert b.windows > a.windows


def test_evaluate_reports_perplexity_diversity_speed_memory_and_resonance(
    tiny: ModelConfig, tokenizer: Tokenizer, corpus: tuple[list[Document], list[Document]]
) -> None:
    texts = [d.text for d in corpus[1][:3]]
    reports = compare(
        {"qllm": build_model(tiny), "baseline": build_model(tiny.replace(arch="baseline"))},
        tokenizer,
        texts,
        max_tokens=256,
        new_tokens=8,
        prompts=2,
    )
    q, b = reports["qllm"], reports["baseline"]
    assert 1 < q.perplexity < 10 * tiny.vocab_size and math.isfinite(b.perplexity)
    assert q.tokens_scored == 256
    assert 0 < q.distinct_1 <= 1 and q.generation_tokens_per_s > 0
    assert q.parameter_bytes > 0 and q.peak_memory_bytes > 0
    assert len(q.mean_iterations) == tiny.n_layers and all(it >= 1 for it in q.mean_iterations)
    assert b.mean_iterations == (1.0,) * tiny.n_layers
    assert q.parameters == sum(n for _, n in q.parameters_by_part)
    assert dict(q.parameters_by_part).keys() >= {"encoder", "blocks", "head"}


def test_a_trained_model_has_lower_perplexity(tiny: ModelConfig, tokenizer: Tokenizer) -> None:
    text = "the cat sat on the mat. " * 40
    model = build_model(tiny)
    before = evaluate(model, tokenizer, [text], max_tokens=128, new_tokens=2, prompts=1).perplexity
    ids = torch.tensor([tokenizer.encode(text)[:48]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(15):
        optimizer.zero_grad()
        model(ids, labels=ids).loss.backward()
        optimizer.step()
    after = evaluate(model, tokenizer, [text], max_tokens=128, new_tokens=2, prompts=1).perplexity
    assert after < before / 2
