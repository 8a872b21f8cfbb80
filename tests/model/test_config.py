from __future__ import annotations

from typing import Any

import pytest

from model import ConfigError, ExtensionsConfig, ModelConfig, preset, preset_names


def test_every_preset_builds_a_valid_config() -> None:
    for name in preset_names():
        config = preset(name)
        assert config.d_model % config.n_heads == 0


def test_presets_grow_from_tiny_to_base() -> None:
    widths = [preset(n).d_model for n in ("tiny", "small", "base")]
    assert widths == sorted(widths) and len(set(widths)) == 3


def test_width_not_divisible_by_heads_is_rejected_naming_both_fields() -> None:
    with pytest.raises(ConfigError, match="d_model=100 is not divisible by n_heads=3") as info:
        ModelConfig(d_model=100, n_heads=3)
    assert info.value.value == 100


def test_non_prime_in_primes_is_rejected() -> None:
    with pytest.raises(ConfigError, match="primes contains 9"):
        ModelConfig(primes=(7, 9))


@pytest.mark.parametrize(
    ("field", "value"),
    [("vocab_size", 0), ("dropout", 1.0), ("max_iterations", 0), ("momentum", 1.5)],
)
def test_out_of_range_values_name_the_field(field: str, value: float) -> None:
    changes: dict[str, Any] = {field: value}
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**changes)


def test_unknown_preset_is_rejected() -> None:
    with pytest.raises(ConfigError, match="preset='huge'"):
        preset("huge")


def test_config_round_trips_through_a_dict_including_extensions() -> None:
    config = preset("tiny", extensions=ExtensionsConfig(memory=True, fusion="cross_attention"))
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_unknown_fields_in_a_saved_config_are_rejected() -> None:
    with pytest.raises(ConfigError, match="bogus"):
        ModelConfig.from_dict({**preset("tiny").to_dict(), "bogus": 1})
