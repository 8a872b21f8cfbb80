"""Extensions: each one, enabled by config, changes exactly what it should inside the forward."""

from __future__ import annotations

import re

import pytest
import torch

from model import ConfigError, ExtensionsConfig, ModelConfig, build_model
from model.extensions import MemoryExtension, ObserverExtension, QuantumExtension


def _with(tiny: ModelConfig, **switches: object) -> ModelConfig:
    return tiny.replace(extensions=ExtensionsConfig(**switches))  # type: ignore[arg-type]


def test_no_extension_is_built_by_default(tiny: ModelConfig) -> None:
    assert build_model(tiny).extensions.names == ()


def test_the_manager_keeps_the_fixed_order(tiny: ModelConfig) -> None:
    config = _with(tiny, observer=True, quantum=True, memory=True, multimodal=True)
    assert build_model(config).extensions.names == ("memory", "multimodal", "quantum", "observer")


def test_memory_extension_adds_the_values_of_the_closest_keys(tiny: ModelConfig) -> None:
    model = build_model(_with(tiny, memory=True, memory_top_k=1, memory_gate=1.0)).eval()
    ids = torch.randint(0, tiny.vocab_size, (1, 5))
    before = model(ids)
    memory = model.extensions.get("memory")
    assert isinstance(memory, MemoryExtension)
    pre_ext = before.hidden_states[-1]  # empty store: the extension was the identity
    value = torch.full((tiny.d_model,), 0.5)
    memory.write(pre_ext[0, 2:3].detach(), value.unsqueeze(0))
    after = model(ids)
    assert torch.allclose(after.hidden_states[-1], pre_ext + value, atol=1e-5)  # top-1 of one entry
    assert not torch.allclose(after.logits, before.logits)


def test_memory_store_overwrites_the_oldest_entry_when_full(tiny: ModelConfig) -> None:
    memory = MemoryExtension(_with(tiny, memory=True, memory_slots=2))
    for i in range(3):
        memory.write(
            torch.full((1, tiny.d_model), float(i)), torch.full((1, tiny.d_model), float(i))
        )
    assert memory.size == 2 and memory.values[:, 0].tolist() == [2.0, 1.0]


@pytest.mark.parametrize("fusion", ["add", "cross_attention"])
def test_multimodal_fuses_image_features_and_ignores_their_absence(
    tiny: ModelConfig, fusion: str
) -> None:
    plain = build_model(tiny).eval()
    model = build_model(_with(tiny, multimodal=True, image_dim=12, fusion=fusion)).eval()
    model.load_state_dict(plain.state_dict(), strict=False)
    ids = torch.randint(0, tiny.vocab_size, (2, 6))
    image = torch.randn(2, 3, 12)
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, plain(ids).logits, atol=1e-6)
        with_image = model(ids, image_features=image).logits
        other_image = model(ids, image_features=torch.randn(2, 3, 12)).logits
    assert not torch.allclose(with_image, plain(ids).logits)
    assert not torch.allclose(with_image, other_image)


def test_quantum_extension_changes_hidden_states_through_a_masked_weight(tiny: ModelConfig) -> None:
    model = build_model(_with(tiny, quantum=True))
    ids = torch.randint(0, tiny.vocab_size, (1, 6))
    model(ids, labels=ids).loss.backward()
    quantum = model.extensions.get("quantum")
    assert isinstance(quantum, QuantumExtension)
    assert quantum.weight.grad is not None
    assert torch.all(quantum.weight.grad[quantum.mask == 0] == 0)
    assert torch.any(quantum.weight.grad[quantum.mask == 1] != 0)
    assert 0 < float(quantum.mask.mean()) < 1


def test_cyclic_quantum_mask_is_a_circulant_band(tiny: ModelConfig) -> None:
    mask = QuantumExtension(_with(tiny, quantum=True, quantum_group="cyclic")).mask
    assert torch.equal(mask.roll((1, 1), dims=(0, 1)), mask)  # invariant under the cyclic shift
    assert 0 < float(mask.mean()) < 1


def test_observer_records_iterations_and_entropy_per_layer_without_changing_output(
    tiny: ModelConfig,
) -> None:
    plain = build_model(tiny).eval()
    model = build_model(_with(tiny, observer=True)).eval()
    model.load_state_dict(plain.state_dict())
    ids = torch.randint(0, tiny.vocab_size, (2, 5))
    with torch.no_grad():
        out = model(ids)
        assert torch.equal(out.logits, plain(ids).logits)
        model(ids[:, :3])
    observer = model.extensions.get("observer")
    assert isinstance(observer, ObserverExtension) and len(observer.records) == 2
    first = observer.records[0]
    assert first.mean_iterations == tuple(float(m.iterations.mean()) for m in out.metadata)
    assert len(first.mean_entropy) == tiny.n_layers


def test_extension_settings_written_as_strings_parse_with_their_field_types() -> None:
    config = ExtensionsConfig.from_strings(
        {"memory": "True", "memory_slots": "64", "memory_gate": "0.25", "fusion": "cross_attention",
         "observer": "false"}
    )  # fmt: skip
    assert (config.memory, config.memory_slots, config.memory_gate) == (True, 64, 0.25)
    assert (config.fusion, config.observer, config.quantum) == ("cross_attention", False, False)
    assert ExtensionsConfig.from_strings({}) == ExtensionsConfig()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"memory": "yes please"}, "extensions.memory"),
        ({"memory_slots": "many"}, "extensions.memory_slots"),
        ({"memory_slots": "0"}, "extensions.memory_slots"),
        ({"memory_gate": "-1"}, "extensions.memory_gate"),
        ({"fusion": "concat"}, "extensions.fusion"),
        ({"quantum_group": "abelian"}, "extensions.quantum_group"),
        ({"telepathy": "True"}, "telepathy"),
    ],
)
def test_a_bad_extension_setting_is_a_config_error_naming_it(
    values: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        ExtensionsConfig.from_strings(values)
