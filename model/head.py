"""Pre-manifest head: iterative attention over the vocabulary before the final logits.

`q = W_q LN(h)`; repeat: `z = q E_outᵀ + b`, `p = softmax(z)`; tokens whose entropy is below
ε_pm stop, the others take `q += W_o(p E_out)`; the logits are `q E_outᵀ + b`.

Deliberate choice: in training mode every token runs exactly T_pm refinements (static shapes and
autograd, as the design asks); in eval mode a token stops once its entropy is below ε_pm. Each
token is refined on its own, so cached decoding sees the same logits as a full pass.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.config import ModelConfig


class PreManifestHead(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(config.d_model)
        self.w_q = nn.Linear(config.d_model, config.d_model, bias=False)
        self.w_o = nn.Linear(config.d_model, config.d_model, bias=False)
        self.out_embed = nn.Parameter(torch.randn(config.vocab_size, config.d_model) * 0.02)
        self.out_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.steps, self.eps = config.pre_manifest_iterations, config.pre_manifest_threshold

    def forward(self, h: Tensor) -> Tensor:
        """`[B, S, D]` → logits `[B, S, V]`."""
        q = self.w_q(self.norm(h))  # [B, S, D]
        active = torch.ones(q.shape[:-1], dtype=torch.bool, device=q.device)  # [B, S]
        for _ in range(self.steps):
            z = q @ self.out_embed.t() + self.out_bias  # [B, S, V]
            p = z.softmax(dim=-1)
            refined = q + self.w_o(p @ self.out_embed)  # [B, S, D]
            if self.training:
                q = refined
                continue
            entropy = -(p * z.log_softmax(dim=-1)).sum(-1)  # [B, S]
            active = active & (entropy >= self.eps)
            q = torch.where(active.unsqueeze(-1), refined, q)
            if not bool(active.any()):
                break
        return q @ self.out_embed.t() + self.out_bias  # [B, S, V]
