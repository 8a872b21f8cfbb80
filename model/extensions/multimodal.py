"""Multimodal extension: image features projected to the model width and fused into the text.

`add` adds the mean projected image feature to every position; `cross_attention` lets every text
position attend over the image features (a residual). Without image features in the context the
extension is the identity, so a text-only request costs nothing.
"""

from __future__ import annotations

from torch import Tensor, nn

from model.config import ModelConfig
from model.extensions.base import Extension, ExtensionContext


class MultimodalExtension(Extension):
    name = "multimodal"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.fusion = config.extensions.fusion
        self.project = nn.Linear(config.extensions.image_dim, config.d_model)
        self.cross = (
            nn.MultiheadAttention(config.d_model, config.n_heads, batch_first=True)
            if self.fusion == "cross_attention"
            else None
        )

    def forward(self, hidden: Tensor, context: ExtensionContext) -> Tensor:
        if context.image_features is None:
            return hidden
        image = self.project(context.image_features.to(hidden.dtype))  # [B, N, D]
        if self.cross is None:
            return hidden + image.mean(dim=1, keepdim=True)  # [B, S, D]
        attended, _ = self.cross(hidden, image, image, need_weights=False)  # [B, S, D]
        return hidden + attended
