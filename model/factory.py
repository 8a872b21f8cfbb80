"""`build_model(config)`: the one place that maps `config.arch` to a module."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor, nn

from model.baseline import BaselineTransformer
from model.cache import KVCache
from model.config import ModelConfig
from model.errors import ConfigError
from model.extensions import ExtensionManager
from model.outputs import ModelOutput
from model.qllm import QLLM


class LanguageModel(Protocol):
    """What the engine, trainer and evaluation rely on (both architectures satisfy it)."""

    config: ModelConfig
    extensions: ExtensionManager

    def __call__(
        self,
        ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        loss_weights: Tensor | None = None,
        cache: KVCache | None = None,
        image_features: Tensor | None = None,
    ) -> ModelOutput: ...

    def new_cache(self, batch: int, max_len: int) -> KVCache: ...


def build_model(config: ModelConfig) -> QLLM | BaselineTransformer:
    """A freshly initialised `QLLM` or `BaselineTransformer`, chosen by `config.arch`."""
    if config.arch == "qllm":
        return QLLM(config)
    if config.arch == "baseline":
        return BaselineTransformer(config)
    raise ConfigError(f"arch={config.arch!r} is not 'qllm' or 'baseline'", config.arch)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
