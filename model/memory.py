"""Homomorphic computational wrapper (HCW): a trainable key–value memory read before a block.

`α = softmax(LN(KeyNet(x)) · normalize(keys)ᵀ / √k)`, `Δ = δ · Adapter(α · values)`, `x + Δ`.
The read is per token, so it commutes with KV-cached decoding. `update` is the online write
("self-evolving") API: it overwrites slots chosen by the caller or, by default, the least recently
used ones (usage = accumulated attention mass). Writing is a no-grad side effect and is only
allowed when the config enables it (`hcw_online_update`), so a served model cannot drift by
accident.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import ModelConfig
from model.errors import ConfigError


class HomomorphicWrapper(nn.Module):
    usage: Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, k = config.d_model, config.hcw_key_dim
        self.key_net = nn.Sequential(
            nn.Linear(d, d // 2), nn.LayerNorm(d // 2), nn.GELU(), nn.Linear(d // 2, k)
        )
        self.key_norm = nn.LayerNorm(k)
        self.keys = nn.Parameter(torch.randn(config.hcw_slots, k) * 0.02)  # [M, k]
        self.values = nn.Parameter(torch.randn(config.hcw_slots, d) * 0.02)  # [M, D]
        self.adapter = nn.Sequential(
            nn.Linear(d, 2 * d), nn.LayerNorm(2 * d), nn.GELU(), nn.Linear(2 * d, d)
        )
        self.delta = config.hcw_delta
        self.online = config.hcw_online_update
        self.register_buffer("usage", torch.zeros(config.hcw_slots), persistent=False)  # [M]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """`[B, S, D]` → (`x + Δ`, `Δ`), both `[B, S, D]`."""
        query = self.key_norm(self.key_net(x))  # [B, S, k]
        scores = query @ F.normalize(self.keys, dim=-1).t() / math.sqrt(self.keys.shape[1])
        alpha = scores.softmax(dim=-1)  # [B, S, M]
        if self.online and not self.training:
            self.usage += alpha.detach().sum(dim=(0, 1)).to(self.usage.dtype)
        change = self.delta * self.adapter(alpha @ self.values)  # [B, S, D]
        return x + change, change

    @torch.no_grad()
    def update(self, keys: Tensor, values: Tensor, idx: Tensor | None = None) -> Tensor:
        """Write `keys [N, k]`, `values [N, D]` into slots `idx` (default: least used).

        Returns the slots written."""
        if not self.online:
            raise ConfigError("hcw_online_update=False: the memory is read-only", False)
        if idx is None:
            idx = torch.argsort(self.usage)[: keys.shape[0]]
        self.keys[idx] = keys.to(self.keys.dtype)
        self.values[idx] = values.to(self.values.dtype)
        self.usage[idx] = self.usage.max() + 1.0  # freshly written slots are most recently used
        return idx
