"""Prime Hilbert encoder: token ids and positions → `[B, S, D]`.

Each token's base embedding is projected into one subspace per prime p (the per-prime maps are
fused into a single `[b, Dp]` linear), a fixed positional code is added per subspace, and the
concatenation is mapped to the model width and normalised. Positions are passed in explicitly so
that left-padded batches and incremental decoding see the same code as an unpadded full pass.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from model.config import ModelConfig


def prime_positional_code(positions: Tensor, primes: tuple[int, ...]) -> Tensor:
    """The fixed code `[*positions.shape, Σp]`: per prime, ⌈p/2⌉ sines then ⌊p/2⌋ cosines of
    `n·ω_k + (n mod p)/p` with `ω_k = exp(−k·ln(10000)/p)`."""
    n = positions.to(torch.float32).unsqueeze(-1)  # [..., 1]
    parts = []
    for p in primes:
        n_sin, n_cos = (p + 1) // 2, p // 2
        shift = torch.remainder(positions, p).to(torch.float32).unsqueeze(-1) / p  # [..., 1]
        k_sin = torch.arange(n_sin, device=positions.device, dtype=torch.float32)
        k_cos = torch.arange(n_cos, device=positions.device, dtype=torch.float32)
        w_sin = torch.exp(-k_sin * math.log(10000.0) / p)  # [n_sin]
        w_cos = torch.exp(-k_cos * math.log(10000.0) / p)  # [n_cos]
        parts.append(torch.sin(n * w_sin + shift))  # [..., n_sin]
        parts.append(torch.cos(n * w_cos + shift))  # [..., n_cos]
    return torch.cat(parts, dim=-1)  # [..., Σp]


class PrimeHilbertEncoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.primes = config.primes
        self.embed = nn.Embedding(config.vocab_size, config.base_dim)  # E[V, b]
        self.to_primes = nn.Linear(config.base_dim, config.prime_dim)  # fused b → Σp, with bias
        self.to_model = nn.Linear(config.prime_dim, config.d_model)
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, ids: Tensor, positions: Tensor) -> Tensor:
        """ids, positions: `[B, S]` → `[B, S, D]`."""
        x = self.to_primes(self.embed(ids))  # [B, S, Dp]
        x = x + prime_positional_code(positions, self.primes).to(x.dtype)  # [B, S, Dp]
        return self.norm(self.to_model(x))  # [B, S, D]
