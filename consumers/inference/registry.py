"""Loaded models under a memory budget, evicted least recently used first.

A model id resolves to ``<models_root>/<model_id>`` — a checkpoint folder (what the training
worker publishes) or a folder of step checkpoints (the newest wins) — or, for ids of the form
``preset:<name>``, to a fresh model of that preset (seeded, with a tokenizer trained on the
default corpus): what tests and benchmarks serve without a training run. A model's size is its
parameter and buffer bytes; loading one that does not fit evicts the least recently used until it
does. Loading runs in a thread; the registry itself is used from the event loop only.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from consumers.errors import ModelNotFound, OverBudget
from model import (
    GenerationEngine,
    Tokenizer,
    build_model,
    default_corpus,
    latest_checkpoint,
    load_checkpoint,
    preset,
)


@dataclass
class LoadedModel:
    model_id: str
    engine: GenerationEngine
    size: int


@functools.cache
def _corpus_tokenizer() -> Tokenizer:
    return Tokenizer.train([d.text for d in default_corpus()[:40]], vocab_size=512)


def load_model(root: Path, model_id: str, device: str) -> LoadedModel:
    model: Any
    if model_id.startswith("preset:"):
        tokenizer = _corpus_tokenizer()
        torch.manual_seed(0)
        model = build_model(preset(model_id.split(":", 1)[1], vocab_size=tokenizer.vocab_size))
    else:
        folder = root / model_id
        path = folder if (folder / "model.safetensors").is_file() else latest_checkpoint(folder)
        if path is None:
            raise ModelNotFound(model_id)
        ck = load_checkpoint(path, device)
        model, tokenizer = ck.model, ck.tokenizer
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return LoadedModel(model_id, GenerationEngine(model, tokenizer, device), size)


class ModelRegistry:
    def __init__(self, root: str | Path, budget_bytes: int, device: str | None = None) -> None:
        self.root, self.budget = Path(root), budget_bytes
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._loading: dict[str, asyncio.Task[LoadedModel]] = {}
        self.loads = self.evictions = 0
        self.evicted: list[str] = []  # every model id evicted, in order (load results name them)

    def loaded(self) -> list[str]:
        """Loaded model ids, least recently used first."""
        return list(self._models)

    def used_bytes(self) -> int:
        return sum(m.size for m in self._models.values())

    async def get(self, model_id: str) -> LoadedModel:
        if model_id in self._models:
            self._models.move_to_end(model_id)
            return self._models[model_id]
        if model_id not in self._loading:
            self._loading[model_id] = asyncio.create_task(
                asyncio.to_thread(load_model, self.root, model_id, self.device)
            )
        try:
            loaded = await asyncio.shield(self._loading[model_id])
        finally:
            self._loading.pop(model_id, None)
        if model_id not in self._models:
            self._admit(loaded)
        return self._models[model_id]

    def _admit(self, loaded: LoadedModel) -> None:
        if loaded.size > self.budget:
            raise OverBudget(loaded.model_id, loaded.size, self.budget)
        while self._models and self.used_bytes() + loaded.size > self.budget:
            gone, _ = self._models.popitem(last=False)
            self.evictions += 1
            self.evicted.append(gone)
        self._models[loaded.model_id] = loaded
        self.loads += 1

    def unload(self, model_id: str) -> bool:
        return self._models.pop(model_id, None) is not None
