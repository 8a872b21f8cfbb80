"""QLLM, the Quantum Resonance Language Model, reading top to bottom.

ids → prime Hilbert encoder → N × [HCW memory on even layers → pre-LN resonance attention →
pre-LN prime-masked feed-forward] → extensions → pre-manifest head → logits.

`forward` takes `attention_mask` over every slot the queries may see (cached + new, 1 = real token)
so left-padded batches and KV-cached decoding get the same positions and masks as a plain pass.
The loss is `CE` with labels shifted once + `λ_H · mean layer entropy` + `λ_Δ · mean ‖Δ_HCW‖²`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.attention import AttentionStats, ResonanceAttention
from model.cache import KVCache, StepMasks, new_cache
from model.config import ModelConfig
from model.encoder import PrimeHilbertEncoder
from model.extensions import ExtensionContext, build_extensions
from model.feedforward import PrimeFeedForward
from model.head import PreManifestHead
from model.memory import HomomorphicWrapper
from model.outputs import (
    LayerMetadata,
    ModelOutput,
    next_token_loss,
)


class QLLMBlock(nn.Module):
    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.hcw = HomomorphicWrapper(config) if config.use_hcw and layer % 2 == 0 else None
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = ResonanceAttention(config, layer)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.ffn = PrimeFeedForward(config, masked=config.prime_mask_ffn)

    def forward(
        self, x: Tensor, bias: Tensor, valid: Tensor, cache: KVCache | None
    ) -> tuple[Tensor, AttentionStats, Tensor | None]:
        change = None
        if self.hcw is not None:
            x, change = self.hcw(x)  # [B, S, D]
        attended, stats = self.attn(self.ln1(x), bias, valid, cache)
        x = x + attended  # [B, S, D]
        x = x + self.ffn(self.ln2(x))  # [B, S, D]
        return x, stats, change


class QLLM(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = PrimeHilbertEncoder(config)
        self.blocks = nn.ModuleList(QLLMBlock(config, i) for i in range(config.n_layers))
        self.extensions = build_extensions(config)
        self.head = PreManifestHead(config)

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
        """ids `[B, S]`; attention_mask `[B, S_cached + S]`; labels `[B, S]`; loss_weights `[B]`."""
        s, masks = ids.shape[1], StepMasks.of(ids, attention_mask, cache)
        valid = masks.valid  # [B, S]
        x = self.encoder(ids, masks.positions)  # [B, S, D]
        bias = masks.bias(s, x.dtype)  # [B, 1, S, S_k]
        hidden, metadata = [x], []
        for i, block in enumerate(self.blocks):
            x, stats, change = block(x, bias, valid, cache)
            metadata.append(_layer_metadata(i, stats, change, valid))
            hidden.append(x)
        if cache is not None:
            cache.advance(s)
        context = ExtensionContext(metadata=tuple(metadata), image_features=image_features)
        x = self.extensions(x, context)  # [B, S, D]
        hidden[-1] = x
        logits = self.head(x)  # [B, S, V]
        out = ModelOutput(logits=logits, hidden_states=tuple(hidden), metadata=tuple(metadata))
        if labels is None:
            return out
        return self._with_loss(out, labels, valid, loss_weights)

    def _with_loss(
        self, out: ModelOutput, labels: Tensor, valid: Tensor, weights: Tensor | None
    ) -> ModelOutput:
        lm = next_token_loss(out.logits, labels, valid, weights)
        entropy = torch.stack([m.entropy.mean() for m in out.metadata]).mean()
        changes = [m.hcw_change for m in out.metadata if m.hcw_change is not None]
        hcw = torch.stack(changes).mean() if changes else torch.zeros_like(lm)
        c = self.config
        total = lm + c.entropy_weight * entropy + c.hcw_penalty_weight * hcw
        return ModelOutput(
            logits=out.logits,
            hidden_states=out.hidden_states,
            metadata=out.metadata,
            loss=total,
            lm_loss=lm,
            entropy_loss=entropy,
            hcw_loss=hcw,
        )


def _layer_metadata(
    layer: int, stats: AttentionStats, change: Tensor | None, valid: Tensor
) -> LayerMetadata:
    hcw = None
    if change is not None:
        sq = change.pow(2).sum(-1)  # [B, S]
        hcw = (sq * valid).sum() / valid.sum().clamp(min=1)
    return LayerMetadata(
        layer=layer,
        iterations=stats.iterations,
        entropy=stats.entropy,
        row_iterations=stats.row_iterations,
        hcw_change=hcw,
    )
