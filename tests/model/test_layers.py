"""Encoder, feed-forward, HCW memory and pre-manifest head, each against its definition."""

from __future__ import annotations

import math

import pytest
import torch

from model import ConfigError, ModelConfig
from model.encoder import PrimeHilbertEncoder, prime_positional_code
from model.feedforward import PrimeFeedForward, mask_density, prime_mask
from model.head import PreManifestHead
from model.memory import HomomorphicWrapper


def test_positional_code_follows_the_prime_formula() -> None:
    n, p = 5, 7
    code = prime_positional_code(torch.tensor([n]), (p,))[0]
    shift = (n % p) / p
    expected = [math.sin(n * math.exp(-k * math.log(10000) / p) + shift) for k in range(4)]
    expected += [math.cos(n * math.exp(-k * math.log(10000) / p) + shift) for k in range(3)]
    assert torch.allclose(code, torch.tensor(expected), atol=1e-5)


def test_positional_code_has_one_dim_per_prime_unit() -> None:
    assert prime_positional_code(torch.arange(3), (7, 11, 13, 17, 19)).shape == (3, 67)


def test_encoder_maps_ids_to_model_width() -> None:
    config = ModelConfig(vocab_size=50, d_model=32, base_dim=8)
    out = PrimeHilbertEncoder(config)(torch.randint(0, 50, (2, 6)), torch.arange(6).repeat(2, 1))
    assert out.shape == (2, 6, 32)


def test_prime_mask_marks_differences_divisible_by_a_prime() -> None:
    mask = prime_mask(40, 30, (7, 11))
    for i, j in [(0, 0), (7, 0), (11, 0), (20, 9), (3, 25)]:
        assert mask[i, j] == float((i - j) % 7 == 0 or (i - j) % 11 == 0)


def test_prime_mask_density_matches_the_expected_fraction() -> None:
    primes = (7, 11, 13, 17, 19)
    assert abs(float(prime_mask(1024, 256, primes).mean()) - mask_density(primes)) < 0.01
    assert abs(mask_density(primes) - 0.36) < 0.01


def test_masked_ffn_weights_get_no_gradient() -> None:
    ffn = PrimeFeedForward(ModelConfig(d_model=32))
    ffn(torch.randn(2, 3, 32)).sum().backward()
    assert ffn.w1.weight.grad is not None
    assert torch.all(ffn.w1.weight.grad[ffn.mask == 0] == 0)
    assert torch.any(ffn.w1.weight.grad[ffn.mask == 1] != 0)


def test_hcw_adds_a_small_change_and_reports_it() -> None:
    hcw = HomomorphicWrapper(ModelConfig(d_model=32, hcw_slots=8, hcw_key_dim=8))
    x = torch.randn(2, 5, 32)
    out, change = hcw(x)
    assert torch.allclose(out, x + change)
    assert 0 < float(change.detach().abs().mean()) < float(x.abs().mean())


def test_hcw_write_is_refused_unless_online_updates_are_enabled() -> None:
    hcw = HomomorphicWrapper(ModelConfig(d_model=32, hcw_slots=8, hcw_key_dim=8))
    with pytest.raises(ConfigError, match="hcw_online_update"):
        hcw.update(torch.zeros(1, 8), torch.zeros(1, 32))


def test_hcw_write_replaces_the_least_used_slot_and_changes_the_read() -> None:
    config = ModelConfig(d_model=32, hcw_slots=4, hcw_key_dim=8, hcw_online_update=True)
    hcw = HomomorphicWrapper(config).eval()
    x = torch.randn(1, 3, 32)
    before, _ = hcw(x)
    hcw.usage.copy_(torch.tensor([5.0, 1.0, 7.0, 3.0]))
    idx = hcw.update(torch.ones(1, 8), torch.full((1, 32), 3.0))
    assert idx.tolist() == [1]
    assert torch.all(hcw.values[1] == 3.0)
    after, _ = hcw(x)
    assert not torch.allclose(before, after)


def test_head_in_eval_stops_refining_tokens_below_the_entropy_threshold() -> None:
    config = ModelConfig(vocab_size=40, d_model=32, pre_manifest_threshold=1e9)
    head = PreManifestHead(config).eval()
    h = torch.randn(1, 4, 32)
    q = head.w_q(head.norm(h))
    expected = q @ head.out_embed.t() + head.out_bias  # every token halts before refining
    assert torch.allclose(head(h), expected, atol=1e-6)


def test_head_in_training_always_runs_the_fixed_number_of_refinements() -> None:
    config = ModelConfig(vocab_size=40, d_model=32, pre_manifest_threshold=1e9)
    head = PreManifestHead(config)
    h = torch.randn(1, 4, 32)
    q = head.w_q(head.norm(h))
    for _ in range(config.pre_manifest_iterations):
        p = (q @ head.out_embed.t() + head.out_bias).softmax(-1)
        q = q + head.w_o(p @ head.out_embed)
    assert torch.allclose(head.train()(h), q @ head.out_embed.t() + head.out_bias, atol=1e-5)
