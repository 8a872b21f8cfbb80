"""The whole model: outputs, the loss definition, both architectures behind one interface."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model import ModelConfig, build_model
from model.baseline import BaselineTransformer
from model.qllm import QLLM


@pytest.mark.parametrize("arch", ["qllm", "baseline"])
def test_forward_returns_logits_hidden_states_and_layer_metadata(
    tiny: ModelConfig, arch: str
) -> None:
    model = build_model(tiny.replace(arch=arch))
    out = model(torch.randint(0, tiny.vocab_size, (2, 9)))
    assert out.logits.shape == (2, 9, tiny.vocab_size)
    assert len(out.hidden_states) == tiny.n_layers + 1
    assert all(h.shape == (2, 9, tiny.d_model) for h in out.hidden_states)
    assert [m.layer for m in out.metadata] == list(range(tiny.n_layers))
    assert out.loss is None


def test_build_model_picks_the_architecture_from_the_config(tiny: ModelConfig) -> None:
    assert isinstance(build_model(tiny), QLLM)
    assert isinstance(build_model(tiny.replace(arch="baseline")), BaselineTransformer)


def test_loss_is_shifted_cross_entropy_plus_entropy_and_memory_penalties(tiny: ModelConfig) -> None:
    model = build_model(tiny.replace(entropy_weight=0.5, hcw_penalty_weight=0.25))
    ids = torch.randint(0, tiny.vocab_size, (2, 10))
    out = model(ids, labels=ids)
    ce = F.cross_entropy(out.logits[:, :-1].reshape(-1, tiny.vocab_size), ids[:, 1:].reshape(-1))
    entropy = torch.stack([m.entropy.mean() for m in out.metadata]).mean()
    hcw = torch.stack([m.hcw_change for m in out.metadata if m.hcw_change is not None]).mean()
    assert torch.allclose(out.lm_loss, ce, atol=1e-5)
    assert torch.allclose(out.loss, ce + 0.5 * entropy + 0.25 * hcw, atol=1e-5)


def test_hcw_runs_on_even_layers_only(tiny: ModelConfig) -> None:
    model = build_model(tiny.replace(n_layers=3))
    out = model(torch.randint(0, tiny.vocab_size, (1, 4)))
    assert [m.hcw_change is not None for m in out.metadata] == [True, False, True]


def test_ignored_labels_and_padding_do_not_count(tiny: ModelConfig) -> None:
    model = build_model(tiny).eval()
    ids = torch.randint(0, tiny.vocab_size, (1, 8))
    labels = ids.clone()
    labels[0, :4] = -100
    out = model(ids, labels=labels)
    ce = F.cross_entropy(out.logits[0, 3:-1], ids[0, 4:])
    assert torch.allclose(out.lm_loss, ce, atol=1e-5)


def test_left_padding_leaves_a_rows_logits_unchanged(tiny: ModelConfig) -> None:
    model = build_model(tiny).eval()
    ids = torch.randint(5, tiny.vocab_size, (1, 6))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], dim=1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        alone = model(ids).logits
        in_batch = model(padded, attention_mask=mask).logits[:, 3:]
    assert torch.allclose(alone, in_batch, atol=1e-5)


def test_sample_weights_scale_each_examples_loss(tiny: ModelConfig) -> None:
    model = build_model(tiny.replace(entropy_weight=0.0, hcw_penalty_weight=0.0)).eval()
    ids = torch.randint(0, tiny.vocab_size, (2, 6))
    full = model(ids, labels=ids).lm_loss
    first_only = model(ids, labels=ids, loss_weights=torch.tensor([1.0, 0.0])).lm_loss
    alone = model(ids[:1], labels=ids[:1]).lm_loss
    assert torch.allclose(first_only, alone / 2, atol=1e-5)
    assert not torch.allclose(first_only, full)


def test_loss_backpropagates_to_every_trainable_qllm_parameter(tiny: ModelConfig) -> None:
    model = build_model(tiny)
    ids = torch.randint(0, tiny.vocab_size, (2, 8))
    model(ids, labels=ids).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


@pytest.mark.parametrize("arch", ["qllm", "baseline"])
def test_changing_future_tokens_never_changes_earlier_logits(tiny: ModelConfig, arch: str) -> None:
    config = tiny.replace(arch=arch, use_hcw=True)
    model = build_model(config).eval()
    ids = torch.randint(0, tiny.vocab_size, (3, 12))
    changed = ids.clone()
    changed[:, 7:] = torch.randint(0, tiny.vocab_size, (3, 5))  # rewrite positions 7..11
    with torch.no_grad():
        before, after = model(ids).logits, model(changed).logits
    torch.testing.assert_close(after[:, :7], before[:, :7], rtol=0, atol=1e-5)
    assert not torch.allclose(after[:, 7:], before[:, 7:]), "the change must reach later logits"
