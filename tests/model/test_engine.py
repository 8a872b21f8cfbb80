"""Generation: the KV cache changes speed, never tokens; sampling options do what they say."""

from __future__ import annotations

import pytest
import torch

from model import (
    GenerationConfig,
    GenerationEngine,
    GenerationError,
    ModelConfig,
    Tokenizer,
    build_model,
)
from model.sampling import apply_repetition_penalty, apply_top_k, apply_top_p, choose

PROMPTS = ["The object", "def f(x):\n    return", "A"]


def _engine(tiny: ModelConfig, tokenizer: Tokenizer, arch: str = "qllm") -> GenerationEngine:
    torch.manual_seed(1)
    return GenerationEngine(build_model(tiny.replace(arch=arch)), tokenizer)


@pytest.mark.parametrize("arch", ["qllm", "baseline"])
def test_greedy_with_cache_equals_full_recompute_token_for_token(
    tiny: ModelConfig, tokenizer: Tokenizer, arch: str
) -> None:
    engine = _engine(tiny, tokenizer, arch)
    cached = engine.generate(PROMPTS, GenerationConfig(max_new_tokens=40, temperature=0))
    full = engine.generate(
        PROMPTS, GenerationConfig(max_new_tokens=40, temperature=0, use_cache=False)
    )
    assert [r.token_ids for r in cached] == [r.token_ids for r in full]
    assert all(len(r.token_ids) > 0 for r in cached)


def test_a_batch_decodes_each_row_as_it_would_alone(
    tiny: ModelConfig, tokenizer: Tokenizer
) -> None:
    engine = _engine(tiny, tokenizer)
    config = GenerationConfig(max_new_tokens=20, temperature=0)
    batched = engine.generate(PROMPTS, config)
    alone = [engine.generate(p, config)[0] for p in PROMPTS]
    assert [r.token_ids for r in batched] == [r.token_ids for r in alone]
    assert len({r.prompt_tokens for r in batched}) == 3  # the rows really had different lengths


def test_max_new_tokens_bounds_each_row(tiny: ModelConfig, tokenizer: Tokenizer) -> None:
    engine = _engine(tiny, tokenizer)
    results = engine.generate(
        PROMPTS, GenerationConfig(max_new_tokens=5, temperature=0, stop_token_ids=(-1,))
    )
    assert all(len(r.token_ids) == 5 and r.finish_reason == "length" for r in results)


def test_a_stop_token_ends_its_row_only(tiny: ModelConfig, tokenizer: Tokenizer) -> None:
    engine = _engine(tiny, tokenizer)
    free = engine.generate(
        PROMPTS, GenerationConfig(max_new_tokens=12, temperature=0, stop_token_ids=(-1,))
    )
    stop = free[0].token_ids[3]
    results = engine.generate(
        PROMPTS, GenerationConfig(max_new_tokens=12, temperature=0, stop_token_ids=(stop,))
    )
    assert results[0].token_ids == free[0].token_ids[:3]
    assert results[0].finish_reason == "stop"
    assert stop not in results[0].token_ids


def test_a_stop_sequence_cuts_the_text_before_it(tiny: ModelConfig, tokenizer: Tokenizer) -> None:
    engine = _engine(tiny, tokenizer)
    free = engine.generate(
        "The", GenerationConfig(max_new_tokens=16, temperature=0, stop_token_ids=(-1,))
    )[0]
    stop = free.text[5:8]
    cut = engine.generate(
        "The", GenerationConfig(max_new_tokens=16, temperature=0, stop_sequences=(stop,))
    )[0]
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.index(stop)]


def test_the_same_seed_gives_the_same_sample_and_another_seed_differs(
    tiny: ModelConfig, tokenizer: Tokenizer
) -> None:
    engine = _engine(tiny, tokenizer)
    runs = [
        engine.generate(PROMPTS, GenerationConfig(max_new_tokens=16, seed=s))[0].token_ids
        for s in (7, 7, 8)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_top_k_of_one_is_greedy(tiny: ModelConfig, tokenizer: Tokenizer) -> None:
    engine = _engine(tiny, tokenizer)
    greedy = engine.generate(PROMPTS, GenerationConfig(max_new_tokens=10, temperature=0))
    top1 = engine.generate(
        PROMPTS, GenerationConfig(max_new_tokens=10, temperature=1.5, top_k=1, seed=3)
    )
    assert [r.token_ids for r in greedy] == [r.token_ids for r in top1]


def test_stream_pieces_join_to_the_generated_text(tiny: ModelConfig, tokenizer: Tokenizer) -> None:
    engine = _engine(tiny, tokenizer)
    config = GenerationConfig(max_new_tokens=24, seed=5, stop_sequences=("e a",))
    pieces = list(engine.stream("The object", config))
    assert len(pieces) > 1
    assert "".join(pieces) == engine.generate("The object", config)[0].text


def test_a_prompt_that_does_not_fit_is_rejected(tiny: ModelConfig, tokenizer: Tokenizer) -> None:
    engine = _engine(tiny, tokenizer)
    with pytest.raises(GenerationError, match="max_seq_len"):
        engine.generate("x", GenerationConfig(max_new_tokens=tiny.max_seq_len))


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits() -> None:
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    seen = torch.tensor([[True, True, False]])
    assert apply_repetition_penalty(logits, seen, 2.0).tolist() == [[1.0, -4.0, 1.0]]


def test_top_k_and_top_p_keep_the_most_likely_tokens() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    assert torch.isinf(apply_top_k(logits, 2)).tolist() == [[False, True, False, True]]
    probs = logits.softmax(-1)[0]
    kept = ~torch.isinf(apply_top_p(logits, float(probs[0]) + 1e-3))
    assert kept.tolist() == [[True, False, True, False]]


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1e-50), (1e-45, 1.0), (1e-300, 0.5)])
def test_a_vanishing_temperature_or_top_p_samples_greedily_not_an_error(
    temperature: float, top_p: float
) -> None:
    # found by schemathesis through the API: a top_p that rounds to 0 in float32 kept no token,
    # and a temperature that does overflowed the scaled logits (NaN probabilities): a 502. The
    # values are normal doubles: an engine flushes denormals process-wide (model.engine)
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 1.0, -1.0, 0.5]])
    seen = torch.zeros_like(logits, dtype=torch.bool)
    config = GenerationConfig(temperature=temperature, top_p=top_p)
    assert choose(logits, config, seen, None).tolist() == [0, 1]


def test_embeddings_are_pooled_hidden_states_and_similarity_is_their_cosine(
    tiny: ModelConfig, tokenizer: Tokenizer
) -> None:
    engine = _engine(tiny, tokenizer)
    vectors = engine.embed(["alpha beta", "gamma"])
    assert vectors.shape == (2, tiny.d_model)
    assert engine.similarity("alpha beta", "alpha beta") == pytest.approx(1.0, abs=1e-5)
    expected = torch.nn.functional.cosine_similarity(vectors[0], vectors[1], dim=0)
    assert engine.similarity("alpha beta", "gamma") == pytest.approx(float(expected), abs=1e-5)


def test_chat_frames_the_prompt_as_dialogue_training_does(
    tiny: ModelConfig, tokenizer: Tokenizer
) -> None:
    engine = _engine(tiny, tokenizer)
    config = GenerationConfig(max_new_tokens=6, temperature=0)
    framed = [tokenizer.bos_id, tokenizer.user_id, *tokenizer.encode("hi"), tokenizer.assistant_id]
    assert (
        engine.chat("hi", config)[0].token_ids == engine.generate_ids([framed], config)[0].token_ids
    )
    assert engine.chat("hi", config)[0].prompt_tokens == len(framed)
