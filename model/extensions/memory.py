"""Memory extension: a non-parametric key–value store read by cosine top-k.

Each hidden state retrieves the k stored values whose keys are most cosine-similar, weights them
by a softmax over those similarities, and adds `gate · retrieved`. An empty store is the
identity. Writing is explicit (`write`) and never happens inside a forward pass; when the store is
full the oldest entries are overwritten (a ring buffer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from model.config import ModelConfig
from model.extensions.base import Extension, ExtensionContext


class MemoryExtension(Extension):
    keys: Tensor
    values: Tensor
    count: Tensor
    name = "memory"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        ext = config.extensions
        self.top_k, self.gate, self.slots = ext.memory_top_k, ext.memory_gate, ext.memory_slots
        self.register_buffer("keys", torch.zeros(ext.memory_slots, config.d_model))  # [N, D]
        self.register_buffer("values", torch.zeros(ext.memory_slots, config.d_model))  # [N, D]
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return int(min(int(self.count), self.slots))

    @torch.no_grad()
    def write(self, keys: Tensor, values: Tensor) -> None:
        """Store `keys [N, D]` → `values [N, D]`."""
        for key, value in zip(keys, values, strict=True):
            slot = int(self.count) % self.slots
            self.keys[slot], self.values[slot] = key, value
            self.count += 1

    def forward(self, hidden: Tensor, context: ExtensionContext) -> Tensor:
        n = self.size
        if n == 0:
            return hidden
        keys = F.normalize(self.keys[:n], dim=-1).to(hidden.dtype)  # [N, D]
        sims = F.normalize(hidden, dim=-1) @ keys.t()  # [B, S, N]
        top, idx = sims.topk(min(self.top_k, n), dim=-1)  # [B, S, k]
        weights = top.softmax(dim=-1)  # [B, S, k]
        retrieved = (weights.unsqueeze(-1) * self.values[:n].to(hidden.dtype)[idx]).sum(-2)
        return hidden + self.gate * retrieved  # [B, S, D]
