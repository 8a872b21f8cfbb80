"""Quantum extension: a residual linear map whose weight carries a structured (group) mask.

`prime`: `M[i, j] = 1` when `(i − j) mod p == 0` for a configured prime p (the FFN pattern).
`cyclic`: a circulant band of the cyclic group Z_D, `M[i, j] = 1` when `(j − i) mod D < ⌈√D⌉`.
The mask multiplies the weight in `forward`, so masked entries get no gradient and never act.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import ModelConfig
from model.extensions.base import Extension, ExtensionContext
from model.feedforward import prime_mask


def cyclic_mask(d: int) -> Tensor:
    width = math.isqrt(d - 1) + 1 if d > 1 else 1
    offset = torch.remainder(torch.arange(d).view(1, -1) - torch.arange(d).view(-1, 1), d)
    return (offset < width).to(torch.float32)  # [D, D]


class QuantumExtension(Extension):
    mask: Tensor
    name = "quantum"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.weight = nn.Parameter(torch.randn(d, d) * 0.02)  # [D, D]
        group = config.extensions.quantum_group
        mask = prime_mask(d, d, config.primes) if group == "prime" else cyclic_mask(d)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, hidden: Tensor, context: ExtensionContext) -> Tensor:
        return hidden + F.linear(hidden, self.weight * self.mask)  # [B, S, D]
