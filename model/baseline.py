"""The baseline: a plain pre-LN GPT-style transformer with the same interface as `QLLM`.

Learned token and position embeddings, single-pass causal softmax attention, an unmasked GELU
feed-forward, a final LayerNorm and a linear head. It reports the same metadata (one iteration per
row, the attention entropy) so evaluation can compare the two side by side; its loss is the plain
next-token loss (no entropy or memory terms).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.attention import AttentionStats, _valid_mean
from model.cache import KVCache, StepMasks, new_cache
from model.config import ModelConfig
from model.extensions import ExtensionContext, build_extensions
from model.feedforward import PrimeFeedForward
from model.outputs import (
    LayerMetadata,
    ModelOutput,
    next_token_loss,
)


class CausalAttention(nn.Module):
    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.layer, self.n_heads, self.head_dim = layer, config.n_heads, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: Tensor, bias: Tensor, valid: Tensor, cache: KVCache | None
    ) -> tuple[Tensor, AttentionStats]:
        b, s, d_model = x.shape
        q, k, v = (
            t.view(b, s, self.n_heads, self.head_dim).transpose(1, 2)  # [B, H, S, d]
            for t in self.qkv(x).split(d_model, dim=-1)
        )
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # [B, H, S_k, d]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim) + bias  # [B, H, S, S_k]
        logp = F.log_softmax(scores, dim=-1)
        p = logp.exp()
        entropy = -(p * logp).sum(-1)  # [B, H, S]
        out = (p @ v).transpose(1, 2).reshape(b, s, d_model)  # [B, S, D]
        rows = valid.long()  # one iteration per valid row
        stats = AttentionStats(
            iterations=_valid_mean(rows.to(x.dtype), valid),
            entropy=_valid_mean(entropy.detach(), valid),
            row_iterations=rows,
        )
        return self.drop(self.proj(out)), stats


class BaselineBlock(nn.Module):
    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = CausalAttention(config, layer)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.ffn = PrimeFeedForward(config, masked=False)

    def forward(
        self, x: Tensor, bias: Tensor, valid: Tensor, cache: KVCache | None
    ) -> tuple[Tensor, AttentionStats]:
        attended, stats = self.attn(self.ln1(x), bias, valid, cache)
        x = x + attended  # [B, S, D]
        return x + self.ffn(self.ln2(x)), stats


class BaselineTransformer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.pos = nn.Embedding(config.max_seq_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(BaselineBlock(config, i) for i in range(config.n_layers))
        self.extensions = build_extensions(config)
        self.norm = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        return new_cache(self, self.config, batch, max_len)

    def forward(
        self,
        ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        loss_weights: Tensor | None = None,
        cache: KVCache | None = None,
        image_features: Tensor | None = None,
    ) -> ModelOutput:
        """Same contract as `QLLM.forward`."""
        s, masks = ids.shape[1], StepMasks.of(ids, attention_mask, cache)
        valid = masks.valid  # [B, S]
        positions = masks.positions.clamp(max=self.config.max_seq_len - 1)
        x = self.drop(self.embed(ids) + self.pos(positions))  # [B, S, D]
        bias = masks.bias(s, x.dtype)  # [B, 1, S, S_k]
        hidden, metadata = [x], []
        for i, block in enumerate(self.blocks):
            x, stats = block(x, bias, valid, cache)
            metadata.append(
                LayerMetadata(i, stats.iterations, stats.entropy, stats.row_iterations, None)
            )
            hidden.append(x)
        if cache is not None:
            cache.advance(s)
        x = self.extensions(x, ExtensionContext(tuple(metadata), image_features))  # [B, S, D]
        hidden[-1] = x
        logits = self.lm_head(self.norm(x))  # [B, S, V]
        if labels is None:
            return ModelOutput(logits, tuple(hidden), tuple(metadata))
        lm = next_token_loss(logits, labels, valid, loss_weights)
        zero = torch.zeros_like(lm)
        return ModelOutput(logits, tuple(hidden), tuple(metadata), lm, lm, zero, zero)
