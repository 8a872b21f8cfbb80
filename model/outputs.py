"""What a forward pass returns, and the next-token loss both architectures share.

The loss shifts labels exactly once, here: `CE(logits[:, :-1], labels[:, 1:])`. Positions whose
label is `IGNORE` (−100: prompt tokens in dialogue training, padding) do not count. Optional
per-sample weights multiply each sample's token losses; the sum is divided by the number of
counted tokens (not by the weight sum), so a weight of 0.5 really halves an example's pull.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE = -100


@dataclass(frozen=True)
class LayerMetadata:
    layer: int
    iterations: Tensor  # [B] mean attention iterations over valid rows
    entropy: Tensor  # [B, H] mean final attention entropy
    row_iterations: Tensor  # [B, S]
    hcw_change: Tensor | None  # scalar mean ‖Δ_HCW‖² over valid tokens, None without HCW


@dataclass(frozen=True)
class ModelOutput:
    logits: Tensor  # [B, S, V]
    hidden_states: tuple[
        Tensor, ...
    ]  # encoder output, then after each block; last after extensions
    metadata: tuple[LayerMetadata, ...]
    loss: Tensor | None = None  # total: lm + λ_H·entropy + λ_Δ·hcw
    lm_loss: Tensor | None = None
    entropy_loss: Tensor | None = None
    hcw_loss: Tensor | None = None


def next_token_loss(
    logits: Tensor, labels: Tensor, valid: Tensor, weights: Tensor | None = None
) -> Tensor:
    """logits `[B, S, V]`, labels `[B, S]`, valid `[B, S]`, weights `[B]` → scalar."""
    labels = labels.masked_fill(~valid, IGNORE)
    target = labels[:, 1:]  # [B, S-1]
    flat = logits[:, :-1].reshape(-1, logits.shape[-1]).float()  # [B·(S-1), V]
    per_token = F.cross_entropy(flat, target.reshape(-1), ignore_index=IGNORE, reduction="none")
    per_token = per_token.view_as(target)  # [B, S-1]
    counted = (target != IGNORE).to(per_token.dtype)
    if weights is not None:
        per_token = per_token * weights.to(per_token.dtype).view(-1, 1)
    return (per_token * counted).sum() / counted.sum().clamp(min=1.0)


def valid_mask(ids: Tensor, attention_mask: Tensor | None) -> Tensor:
    """The `[B, S_total]` bool mask of real (non-padding) tokens."""
    if attention_mask is None:
        return torch.ones(ids.shape, dtype=torch.bool, device=ids.device)
    return attention_mask.to(torch.bool)


def positions_from_mask(valid: Tensor) -> Tensor:
    """Position of each slot counted from the first real token: `[B, S_total]`."""
    return (valid.long().cumsum(dim=-1) - 1).clamp(min=0)
