"""The extension contract and the manager that runs extensions inside the model's forward.

An extension is an `nn.Module` with a `name` and `forward(hidden, context) -> hidden` on the final
hidden states `[B, S, D]`, before the output head. The manager runs the enabled ones in a fixed
order (memory, multimodal, quantum, observer), and the model calls the manager in every forward,
so enabling an extension changes what the model computes. Every built-in extension acts on each
token independently, so KV-cached decoding stays equal to a full pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn


@dataclass(frozen=True)
class ExtensionContext:
    """What a forward pass offers extensions besides the hidden states."""

    metadata: tuple[Any, ...] = ()  # per-layer `LayerMetadata`
    image_features: Tensor | None = None  # [B, N, image_dim]
    extras: dict[str, Any] = field(default_factory=dict)


class Extension(nn.Module):
    name: str = "extension"

    def forward(self, hidden: Tensor, context: ExtensionContext) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class ExtensionManager(nn.Module):
    """Runs its extensions in order; an empty manager is the identity."""

    def __init__(self, extensions: list[Extension]) -> None:
        super().__init__()
        self.items = nn.ModuleList(extensions)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(ext.name for ext in self.items)  # type: ignore[misc]

    def get(self, name: str) -> Extension | None:
        for ext in self.items:
            if ext.name == name:
                return ext  # type: ignore[return-value]
        return None

    def forward(self, hidden: Tensor, context: ExtensionContext) -> Tensor:
        for ext in self.items:
            hidden = ext(hidden, context)  # [B, S, D]
        return hidden
