"""Extensions run on the final hidden states inside the model's forward (see `base`), plus the
structured-output decoding constraint (`structured`)."""

from __future__ import annotations

from model.config import ModelConfig
from model.extensions.base import Extension, ExtensionContext, ExtensionManager
from model.extensions.memory import MemoryExtension
from model.extensions.multimodal import MultimodalExtension
from model.extensions.observer import Observation, ObserverExtension
from model.extensions.quantum import QuantumExtension


def build_extensions(config: ModelConfig) -> ExtensionManager:
    """The manager holding the extensions `config.extensions` enables, in their fixed order."""
    ext = config.extensions
    enabled: list[Extension] = []
    if ext.memory:
        enabled.append(MemoryExtension(config))
    if ext.multimodal:
        enabled.append(MultimodalExtension(config))
    if ext.quantum:
        enabled.append(QuantumExtension(config))
    if ext.observer:
        enabled.append(ObserverExtension(config))
    return ExtensionManager(enabled)


__all__ = [
    "Extension",
    "ExtensionContext",
    "ExtensionManager",
    "MemoryExtension",
    "MultimodalExtension",
    "Observation",
    "ObserverExtension",
    "QuantumExtension",
    "build_extensions",
]
