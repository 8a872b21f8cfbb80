"""Prime-masked feed-forward: `W2 · GELU((W1 ⊙ M) x)`.

`M[i, j] = 1` when `(i − j) mod p == 0` for some prime p; it is applied to W1 inside `forward`, so
the gradient of the masked entries is zero and they stay at their initial value forever (and never
contribute). The mask is a derived, non-persistent buffer: checkpoints hold only W1 and W2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import ModelConfig


def prime_mask(rows: int, cols: int, primes: tuple[int, ...]) -> Tensor:
    """`[rows, cols]` float mask with 1 where `(i − j) mod p == 0` for some p in `primes`."""
    diff = torch.arange(rows).view(-1, 1) - torch.arange(cols).view(1, -1)  # [rows, cols]
    hit = torch.zeros(rows, cols, dtype=torch.bool)
    for p in primes:
        hit |= torch.remainder(diff, p) == 0
    return hit.to(torch.float32)


class PrimeFeedForward(nn.Module):
    mask: Tensor

    def __init__(self, config: ModelConfig, masked: bool = True) -> None:
        super().__init__()
        hidden = config.ffn_mult * config.d_model
        self.w1 = nn.Linear(config.d_model, hidden)  # weight [F, D]
        self.w2 = nn.Linear(hidden, config.d_model)  # weight [D, F]
        self.drop = nn.Dropout(config.dropout)
        self.masked = masked
        mask = prime_mask(hidden, config.d_model, config.primes) if masked else torch.ones(1, 1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """`[B, S, D]` → `[B, S, D]`."""
        w1 = self.w1.weight * self.mask if self.masked else self.w1.weight  # [F, D]
        h = F.gelu(F.linear(x, w1, self.w1.bias))  # [B, S, F]
        return self.drop(self.w2(h))  # [B, S, D]

    def density(self) -> float:
        return float(self.mask.mean()) if self.masked else 1.0


def mask_density(primes: tuple[int, ...]) -> float:
    """The expected density `1 − ∏(1 − 1/p)`."""
    keep = 1.0
    for p in primes:
        keep *= 1.0 - 1.0 / p
    return 1.0 - keep


__all__ = ["PrimeFeedForward", "mask_density", "prime_mask"]
