"""Model configuration: one dataclass, three presets, validation that names the bad field.

`ModelConfig` describes both architectures (`arch="qllm"` or `arch="baseline"`); fields that only
QLLM reads are ignored by the baseline. Extensions are configured here too, so a checkpoint's
`config.json` rebuilds exactly the model that was trained.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from model.errors import ConfigError

Arch = Literal["qllm", "baseline"]


@dataclass(frozen=True)
class ExtensionsConfig:
    """Which extensions run in the model's forward, in this order: memory, multimodal, quantum,
    observer. Structured output is a decoding constraint and needs no switch here."""

    memory: bool = False
    memory_slots: int = 256
    memory_top_k: int = 4
    memory_gate: float = 0.5
    multimodal: bool = False
    image_dim: int = 32
    fusion: Literal["add", "cross_attention"] = "add"
    quantum: bool = False
    quantum_group: Literal["prime", "cyclic"] = "prime"
    observer: bool = False

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> ExtensionsConfig:
        """The defaults with ``values`` applied: field names to values written as strings (what a
        model's extension settings and a training job's ``extensions`` carry). An unknown name or
        a value its field's type cannot parse raises ``ConfigError`` naming it."""
        kinds = {f.name: f.type for f in dataclasses.fields(cls)}
        parsed: dict[str, Any] = {}
        for name, text in values.items():
            if name not in kinds:
                raise ConfigError(f"unknown extension setting {name!r}", name)
            parsed[name] = _parse(name, str(kinds[name]), text)
        config = cls(**parsed)
        _check_extensions(config)
        return config


def _parse(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "bool":
            if text.strip().lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.strip().lower() in ("true", "1")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise ConfigError(f"extensions.{name}={text!r} is not a {kind}", text) from None
    return text  # str and Literal fields; their allowed values are validate()'s check


@dataclass(frozen=True)
class ModelConfig:
    """Shapes and hyper-parameters of a QLLM (or of the baseline transformer)."""

    arch: Arch = "qllm"
    vocab_size: int = 512
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    max_seq_len: int = 128
    dropout: float = 0.0
    # prime Hilbert encoder
    primes: tuple[int, ...] = (7, 11, 13, 17, 19)
    base_dim: int = 32
    # resonance attention
    max_iterations: int = 10
    entropy_threshold: float = 0.1
    convergence_tol: float = 1e-3
    phase_init: float = 0.1
    phase_freq: float = 2.0
    beta0: float = 0.8
    beta_delta: float = 0.2
    momentum: float = 0.2
    # prime-masked feed-forward
    ffn_mult: int = 4
    prime_mask_ffn: bool = True
    # homomorphic computational wrapper (trainable memory)
    use_hcw: bool = True
    hcw_slots: int = 32
    hcw_key_dim: int = 16
    hcw_delta: float = 0.1
    hcw_online_update: bool = False
    # pre-manifest head
    pre_manifest_iterations: int = 5
    pre_manifest_threshold: float = 0.1
    # loss
    entropy_weight: float = 0.01
    hcw_penalty_weight: float = 0.001
    extensions: ExtensionsConfig = field(default_factory=ExtensionsConfig)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def prime_dim(self) -> int:
        return sum(self.primes)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}", unknown)
        values = dict(data)
        if "primes" in values:
            values["primes"] = tuple(values["primes"])
        if isinstance(values.get("extensions"), dict):
            values["extensions"] = ExtensionsConfig(**values["extensions"])
        return cls(**values)


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, int(n**0.5) + 1))


def _require(ok: bool, message: str, value: Any) -> None:
    if not ok:
        raise ConfigError(message, value)


def validate(c: ModelConfig) -> None:
    """Raise `ConfigError` naming the first invalid field."""
    _require(c.arch in ("qllm", "baseline"), f"arch={c.arch!r} is not 'qllm' or 'baseline'", c.arch)
    for name in ("vocab_size", "d_model", "n_heads", "n_layers", "max_seq_len", "base_dim"):
        value = getattr(c, name)
        _require(isinstance(value, int) and value > 0, f"{name}={value} must be > 0", value)
    _require(
        c.d_model % c.n_heads == 0,
        f"d_model={c.d_model} is not divisible by n_heads={c.n_heads}",
        c.d_model,
    )
    _require(0.0 <= c.dropout < 1.0, f"dropout={c.dropout} must be in [0, 1)", c.dropout)
    _require(len(c.primes) > 0, "primes=() must name at least one prime", c.primes)
    for p in c.primes:
        _require(_is_prime(p), f"primes contains {p}, which is not prime", p)
    _require(
        c.max_iterations >= 1, f"max_iterations={c.max_iterations} must be >= 1", c.max_iterations
    )
    _require(0.0 <= c.momentum < 1.0, f"momentum={c.momentum} must be in [0, 1)", c.momentum)
    _require(c.beta0 > 0, f"beta0={c.beta0} must be > 0", c.beta0)
    _require(c.ffn_mult >= 1, f"ffn_mult={c.ffn_mult} must be >= 1", c.ffn_mult)
    _require(c.hcw_slots >= 1, f"hcw_slots={c.hcw_slots} must be >= 1", c.hcw_slots)
    _require(c.hcw_key_dim >= 1, f"hcw_key_dim={c.hcw_key_dim} must be >= 1", c.hcw_key_dim)
    _require(
        c.pre_manifest_iterations >= 1,
        f"pre_manifest_iterations={c.pre_manifest_iterations} must be >= 1",
        c.pre_manifest_iterations,
    )
    _check_extensions(c.extensions)


def _check_extensions(e: ExtensionsConfig) -> None:
    for name in ("memory_slots", "memory_top_k", "image_dim"):
        value = getattr(e, name)
        _require(value >= 1, f"extensions.{name}={value} must be >= 1", value)
    gate = e.memory_gate
    _require(gate >= 0, f"extensions.memory_gate={gate} must be >= 0", gate)
    _require(
        e.fusion in ("add", "cross_attention"),
        f"extensions.fusion={e.fusion!r} is not 'add' or 'cross_attention'",
        e.fusion,
    )
    _require(
        e.quantum_group in ("prime", "cyclic"),
        f"extensions.quantum_group={e.quantum_group!r} is not 'prime' or 'cyclic'",
        e.quantum_group,
    )


_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(d_model=64, n_heads=4, n_layers=2, max_seq_len=128, base_dim=32, hcw_slots=32),
    "small": dict(d_model=128, n_heads=4, n_layers=4, max_seq_len=256, base_dim=64, hcw_slots=64),
    "base": dict(
        d_model=512,
        n_heads=8,
        n_layers=8,
        max_seq_len=1024,
        base_dim=256,
        hcw_slots=256,
        hcw_key_dim=64,
        dropout=0.1,
    ),
}


def preset_names() -> tuple[str, ...]:
    return tuple(_PRESETS)


def preset(name: str, **overrides: Any) -> ModelConfig:
    """The named preset (`tiny`, `small`, `base`) with `overrides` applied."""
    if name not in _PRESETS:
        raise ConfigError(f"preset={name!r} is not one of {', '.join(_PRESETS)}", name)
    return ModelConfig(**{**_PRESETS[name], **overrides})
