"""Key–value cache for incremental decoding, and the attention mask it implies.

The cache is preallocated to `max_len` positions per layer, so appending a token copies only that
token's keys and values (no re-concatenation of the past). `length` advances once per model call,
after every layer has written its slice. Positions are cache slots: a left-padded batch keeps its
padding in the cache and masks it out through `key_valid`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from model.config import ModelConfig
from model.errors import GenerationError
from model.outputs import positions_from_mask, valid_mask

MASK_VALUE = -1e9  # finite, so masked probabilities are exactly 0 and 0·logit stays 0 (no NaN)


class KVCache:
    def __init__(
        self,
        n_layers: int,
        batch: int,
        n_heads: int,
        max_len: int,
        head_dim: int,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (batch, n_heads, max_len, head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.max_len = max_len
        self.length = 0

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write `k, v` `[B, H, S_new, d]` after the cached positions; return all keys and values
        `[B, H, length + S_new, d]` for this layer."""
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise GenerationError(
                f"KV cache overflow: {end} positions > max_len={self.max_len}", end
            )
        self.keys[layer][:, :, self.length : end] = k.to(self.keys[layer].dtype)
        self.values[layer][:, :, self.length : end] = v.to(self.values[layer].dtype)
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n


def attention_bias(key_valid: Tensor, n_queries: int, dtype: torch.dtype) -> Tensor:
    """Additive mask `[B, 1, S_q, S_k]` for queries occupying the last `n_queries` key slots.

    A query sees keys at or before its own slot that are not padding. It always sees itself, so a
    padding query row is never fully masked (its output is ignored anyway).
    """
    b, s_k = key_valid.shape
    past = s_k - n_queries
    q_slot = torch.arange(past, s_k, device=key_valid.device).view(n_queries, 1)  # [S_q, 1]
    k_slot = torch.arange(s_k, device=key_valid.device).view(1, s_k)  # [1, S_k]
    causal = k_slot <= q_slot  # [S_q, S_k]
    allowed = (causal & key_valid.view(b, 1, s_k)) | (k_slot == q_slot)  # [B, S_q, S_k]
    zero = torch.zeros((), dtype=dtype, device=key_valid.device)
    return torch.where(allowed, zero, torch.full_like(zero, MASK_VALUE)).unsqueeze(1)


@dataclass(frozen=True)
class StepMasks:
    """What one model call over `ids` needs of the mask and the cache (both models share it)."""

    past: int  # positions already in the cache
    valid_all: Tensor  # [B, S_cached + S] real (non-padding) slots
    valid: Tensor  # [B, S] the slots of this call
    positions: Tensor  # [B, S] positions from the first real token

    @classmethod
    def of(cls, ids: Tensor, attention_mask: Tensor | None, cache: KVCache | None) -> StepMasks:
        past = cache.length if cache is not None else 0
        ones = torch.ones(ids.shape[0], past + ids.shape[1], device=ids.device)
        valid_all = valid_mask(ones, attention_mask)
        return cls(past, valid_all, valid_all[:, past:], positions_from_mask(valid_all)[:, past:])

    def bias(self, n_queries: int, dtype: torch.dtype) -> Tensor:
        return attention_bias(self.valid_all, n_queries, dtype)  # [B, 1, S, S_k]


def new_cache(model: nn.Module, config: ModelConfig, batch: int, max_len: int) -> KVCache:
    """An empty cache for `model` (on its parameters' device and dtype)."""
    p = next(model.parameters())
    return KVCache(config.n_layers, batch, config.n_heads, max_len, config.head_dim, p.device,
                   p.dtype)  # fmt: skip
