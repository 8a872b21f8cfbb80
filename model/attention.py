"""Resonance attention: iterative, entropy-halted, causal self-attention.

Q, K and V are projected once; each iteration t re-scores with a per-head phase constant added to
Q and K and an inverse temperature `β_t = β0 + t·βΔ`, and mixes the new output with the previous
one (`O_t = (1−m)·softmax·V + m·O_{t−1}`; exact because V is fixed, so no S×S history is kept).

Deliberate choices:
- **Halting is per query row**, not per sample. A row stops when its attention entropy (mean over
  heads) falls below ε or its output stops moving (`‖O_t − O_{t−1}‖/‖O_t‖ < tol`); a halted row
  keeps its output. A row's scores depend only on its own query and the keys at or before it, so
  with per-row halting position s gets bit-for-bit the same computation whether the sequence is
  processed whole or token by token against a KV cache — which is what makes cached decoding equal
  to full recompute. Per-sample halting (the published form) couples rows: appending a token could
  change how many iterations earlier positions got. The per-sample view is still reported:
  `iterations[B]` is the mean number of iterations over a sample's valid rows and `entropy[B, H]`
  the mean final-iteration entropy over them; the loop ends when every row has halted.
- Adding the constant c to every component of Q and K changes a score by
  `c·Σq_i + c·Σk_j + d·c²`; only the key term `c·Σk_j` survives the softmax (the others are
  constant along a row), so it is the only one computed. Entropies are shift-invariant too.
- The head phase offset is fixed at `π·h/H`; the amplitude φ_h is learned (init 0.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.cache import KVCache
from model.config import ModelConfig


@dataclass(frozen=True)
class AttentionStats:
    iterations: Tensor  # [B] mean iterations over valid query rows
    entropy: Tensor  # [B, H] mean final attention entropy over valid query rows (differentiable)
    row_iterations: Tensor  # [B, S] iterations used by each query row (0 for padding)


@dataclass(frozen=True)
class _Resonance:
    out: Tensor  # [B, H, S, d]
    row_entropy: Tensor  # [B, H, S]
    row_iterations: Tensor  # [B, S]


def _valid_mean(x: Tensor, valid: Tensor) -> Tensor:
    """Mean of `x [B, ..., S]` over the valid positions `valid [B, S]` → `[B, ...]`."""
    w = valid.to(x.dtype)
    shape = (w.shape[0],) + (1,) * (x.dim() - 2) + (w.shape[1],)
    return (x * w.view(shape)).sum(-1) / w.sum(-1).clamp(min=1).view(shape[:-1])


class ResonanceAttention(nn.Module):
    offset: Tensor

    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.n_heads, self.head_dim = config.n_heads, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.phase = nn.Parameter(torch.full((config.n_heads,), config.phase_init))  # φ_h
        offsets = torch.arange(config.n_heads, dtype=torch.float32) * math.pi / config.n_heads
        self.register_buffer("offset", offsets, persistent=False)  # [H]
        self.max_iterations, self.freq = config.max_iterations, config.phase_freq
        self.beta0, self.beta_delta, self.momentum = (
            config.beta0,
            config.beta_delta,
            config.momentum,
        )
        self.eps, self.tol = config.entropy_threshold, config.convergence_tol

    def _heads(self, x: Tensor) -> Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.n_heads, self.head_dim).transpose(1, 2)  # [B, H, S, d]

    def forward(
        self, x: Tensor, bias: Tensor, query_valid: Tensor, cache: KVCache | None = None
    ) -> tuple[Tensor, AttentionStats]:
        """x `[B, S, D]`, bias `[B, 1, S, S_k]`, query_valid `[B, S]` → `[B, S, D]`, stats."""
        b, s, d_model = x.shape
        q, k, v = (self._heads(t) for t in self.qkv(x).split(d_model, dim=-1))  # [B, H, S, d]
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # [B, H, S_k, d]
        res = self._iterate(q, k, v, bias, query_valid)
        out = res.out.transpose(1, 2).reshape(b, s, d_model)  # [B, S, D]
        stats = AttentionStats(
            iterations=_valid_mean(res.row_iterations.to(x.dtype), query_valid),
            entropy=_valid_mean(res.row_entropy, query_valid),
            row_iterations=res.row_iterations,
        )
        return self.drop(self.proj(out)), stats

    def _iterate(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, valid: Tensor) -> _Resonance:
        scale = 1.0 / math.sqrt(self.head_dim)
        base = (q @ k.transpose(-2, -1)) * scale + bias  # [B, H, S, S_k]
        key_sum = k.sum(-1).unsqueeze(-2) * scale  # [B, H, 1, S_k]
        active = valid.clone()  # [B, S] rows still iterating
        out = torch.zeros_like(q)  # [B, H, S, d]
        row_entropy = torch.zeros(q.shape[:3], dtype=q.dtype, device=q.device)  # [B, H, S]
        row_iters = torch.zeros_like(valid, dtype=torch.long)  # [B, S]
        t_max = self.max_iterations
        for t in range(t_max):
            c = self.phase * torch.sin(math.pi * self.freq * t / t_max + self.offset)  # [H]
            beta = self.beta0 + t * self.beta_delta
            scores = beta * (base + c.view(1, -1, 1, 1) * key_sum)  # [B, H, S, S_k]
            logp = F.log_softmax(scores, dim=-1)
            p = logp.exp()
            entropy = -(p * logp).sum(-1)  # [B, H, S]
            fresh = p @ v  # [B, H, S, d]
            mixed = fresh if t == 0 else (1 - self.momentum) * fresh + self.momentum * out
            gate = active.view(active.shape[0], 1, -1)  # [B, 1, S]
            moved = mixed - out  # [B, H, S, d]
            new_out = torch.where(gate.unsqueeze(-1), mixed, out)  # [B, H, S, d]
            row_entropy = torch.where(gate, entropy, row_entropy)
            row_iters = row_iters + active.long()
            halt = entropy.detach().mean(1) < self.eps  # [B, S]
            if t > 0:
                change = _row_norm(moved.detach()) / _row_norm(mixed.detach()).clamp(min=1e-12)
                halt = halt | (change < self.tol)
            out, active = new_out, active & ~halt
            if not bool(active.any()):
                break
        return _Resonance(out=out, row_entropy=row_entropy, row_iterations=row_iters)


def _row_norm(x: Tensor) -> Tensor:
    """Norm over heads and head dims: `[B, H, S, d]` → `[B, S]`."""
    return x.pow(2).sum(dim=(1, 3)).sqrt()
