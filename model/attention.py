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
        scale, t_max = 1.0 / math.sqrt(self.head_dim), self.max_iterations
        base = torch.baddbmm(
            bias.expand(-1, q.shape[1], -1, -1).flatten(0, 1),
            q.flatten(0, 1),
            k.flatten(0, 1).transpose(-2, -1),
            alpha=scale,
        ).view(*q.shape[:3], k.shape[2])  # [B, H, S, S_k]
        key_sum = k.sum(-1).unsqueeze(-2) * scale  # [B, H, 1, S_k]
        steps = torch.arange(t_max, device=q.device, dtype=q.dtype).view(-1, 1)
        phases = self.phase * torch.sin(math.pi * self.freq * steps / t_max + self.offset)  # [T, H]
        phases = phases.view(t_max, 1, -1, 1, 1)  # [T, 1, H, 1, 1]
        active, n_rows = valid.clone(), valid.numel()  # [B, S] rows still iterating
        n_active = int(active.sum())
        out = torch.zeros_like(q)  # [B, H, S, d]
        row_entropy = torch.zeros(q.shape[:3], dtype=q.dtype, device=q.device)  # [B, H, S]
        row_iters = torch.zeros_like(valid, dtype=torch.long)  # [B, S]
        for t in range(t_max):
            beta = self.beta0 + t * self.beta_delta
            scores = torch.addcmul(base, phases[t], key_sum).mul_(beta)  # [B, H, S, S_k]
            logp = F.log_softmax(scores, dim=-1)
            p = logp.exp()
            entropy = -(p * logp).sum(-1)  # [B, H, S]
            fresh = p @ v  # [B, H, S, d]
            mixed = fresh if t == 0 else torch.lerp(out, fresh, 1.0 - self.momentum)
            halt = entropy.detach().mean(1) < self.eps  # [B, S]
            if t > 0:
                moved = (mixed - out).detach().square().sum(dim=(1, 3))  # [B, S]
                size = mixed.detach().square().sum(dim=(1, 3))  # [B, S]
                halt = halt | (moved < (self.tol**2) * size)
            if n_active == n_rows:  # nothing halted yet: no row needs protecting
                out, row_entropy, row_iters = mixed, entropy, row_iters + 1
            else:
                gate = active.unsqueeze(1)  # [B, 1, S]
                out = torch.where(gate.unsqueeze(-1), mixed, out)  # [B, H, S, d]
                row_entropy = torch.where(gate, entropy, row_entropy)
                row_iters = row_iters + active.long()
            active = active & ~halt
            n_active = int(active.sum())
            if n_active == 0:
                break
        return _Resonance(out=out, row_entropy=row_entropy, row_iterations=row_iters)
