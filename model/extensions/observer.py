"""Observer extension: records the resonance metadata of every forward pass; hidden states pass
through unchanged. `records` holds one `Observation` per call (bounded, oldest dropped)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from torch import Tensor

from model.config import ModelConfig
from model.extensions.base import Extension, ExtensionContext


@dataclass(frozen=True)
class Observation:
    mean_iterations: tuple[float, ...]  # per layer
    mean_entropy: tuple[float, ...]  # per layer


class ObserverExtension(Extension):
    name = "observer"

    def __init__(self, config: ModelConfig, capacity: int = 1024) -> None:
        super().__init__()
        self.records: deque[Observation] = deque(maxlen=capacity)

    def forward(self, hidden: Tensor, context: ExtensionContext) -> Tensor:
        self.records.append(
            Observation(
                mean_iterations=tuple(
                    float(m.iterations.detach().mean()) for m in context.metadata
                ),
                mean_entropy=tuple(float(m.entropy.detach().mean()) for m in context.metadata),
            )
        )
        return hidden
