"""Resonance attention: causal, padding-blind, halting per row, metadata shaped as promised."""

from __future__ import annotations

import torch

from model import ModelConfig
from model.attention import ResonanceAttention
from model.cache import KVCache, attention_bias


def _attend(config: ModelConfig, x: torch.Tensor, valid: torch.Tensor | None = None):
    attn = ResonanceAttention(config, layer=0).eval()
    valid = torch.ones(x.shape[:2], dtype=torch.bool) if valid is None else valid
    return attn, attn(x, attention_bias(valid, x.shape[1], x.dtype), valid)


def test_a_later_token_never_changes_earlier_outputs() -> None:
    config = ModelConfig(d_model=32, n_heads=4)
    x = torch.randn(1, 6, 32)
    attn, (out, _) = _attend(config, x)
    changed = x.clone()
    changed[0, 4:] = torch.randn(2, 32)
    bias = attention_bias(torch.ones(1, 6, dtype=torch.bool), 6, x.dtype)
    out2, _ = attn(changed, bias, torch.ones(1, 6, dtype=torch.bool))
    assert torch.allclose(out[0, :4], out2[0, :4], atol=1e-6)
    assert not torch.allclose(out[0, 4:], out2[0, 4:])


def test_padding_keys_do_not_influence_real_tokens() -> None:
    config = ModelConfig(d_model=32, n_heads=4)
    x = torch.randn(1, 5, 32)
    valid = torch.tensor([[False, False, True, True, True]])
    attn, (out, _) = _attend(config, x, valid)
    noisy = x.clone()
    noisy[0, :2] = torch.randn(2, 32) * 10
    out2, _ = attn(noisy, attention_bias(valid, 5, x.dtype), valid)
    assert torch.allclose(out[0, 2:], out2[0, 2:], atol=1e-5)


def test_metadata_has_iterations_per_sample_and_entropy_per_head() -> None:
    config = ModelConfig(d_model=32, n_heads=4)
    _, (_, stats) = _attend(config, torch.randn(3, 7, 32))
    assert stats.iterations.shape == (3,)
    assert stats.entropy.shape == (3, 4)
    assert stats.row_iterations.shape == (3, 7)
    assert torch.all(stats.row_iterations >= 1) and torch.all(stats.row_iterations <= 10)


def test_rows_below_the_entropy_threshold_halt_after_one_iteration() -> None:
    config = ModelConfig(d_model=32, n_heads=4, entropy_threshold=100.0)
    _, (_, stats) = _attend(config, torch.randn(2, 6, 32))
    assert torch.all(stats.row_iterations == 1)


def test_rows_iterate_to_the_limit_when_nothing_halts_them() -> None:
    config = ModelConfig(d_model=32, n_heads=4, entropy_threshold=0.0, convergence_tol=0.0)
    _, (_, stats) = _attend(config, torch.randn(2, 6, 32))
    assert torch.all(stats.row_iterations[:, 1:] == config.max_iterations)


def test_a_loose_convergence_tolerance_stops_after_the_second_iteration() -> None:
    config = ModelConfig(d_model=32, n_heads=4, entropy_threshold=0.0, convergence_tol=1e9)
    _, (_, stats) = _attend(config, torch.randn(2, 6, 32))
    assert torch.all(stats.row_iterations == 2)


def test_a_sharp_first_position_halts_on_entropy_while_later_rows_keep_going() -> None:
    # the first row sees only itself: entropy 0, so it halts at once; the others do not
    config = ModelConfig(d_model=32, n_heads=4, convergence_tol=0.0)
    _, (_, stats) = _attend(config, torch.randn(1, 6, 32))
    assert stats.row_iterations[0, 0] == 1
    assert torch.all(stats.row_iterations[0, 1:] > 1)


def test_cached_rows_equal_the_full_pass() -> None:
    config = ModelConfig(d_model=32, n_heads=4)
    attn = ResonanceAttention(config, layer=0).eval()
    x = torch.randn(2, 8, 32)
    valid = torch.ones(2, 8, dtype=torch.bool)
    full, _ = attn(x, attention_bias(valid, 8, x.dtype), valid)
    cache = KVCache(1, 2, 4, 8, 8, torch.device("cpu"))
    parts = []
    for start, end in [(0, 5), (5, 6), (6, 7), (7, 8)]:
        bias = attention_bias(valid[:, :end], end - start, x.dtype)
        part, _ = attn(x[:, start:end], bias, valid[:, start:end], cache)
        cache.advance(end - start)
        parts.append(part)
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)


def test_attention_is_differentiable_through_the_iterations() -> None:
    config = ModelConfig(d_model=32, n_heads=4)
    attn = ResonanceAttention(config, layer=0)
    x = torch.randn(1, 5, 32, requires_grad=True)
    valid = torch.ones(1, 5, dtype=torch.bool)
    out, stats = attn(x, attention_bias(valid, 5, x.dtype), valid)
    (out.sum() + stats.entropy.sum()).backward()
    assert x.grad is not None and attn.phase.grad is not None
    assert torch.isfinite(x.grad).all()
