"""Quantization-aware training in torch: fake quantization with a straight-through estimator.

The forward value is exactly the dequantized tensor of :mod:`kernels.quantization` (same scale
formula, same half-to-even rounding, same grouping), so a model trained with it is evaluated
faithfully by the packed kernels. The backward pass is the straight-through estimator:
``∂L/∂W = ∂L/∂Ŵ`` (``W + (Q(W) − W).detach()``), the BitNet b1.58 recipe for ternary weights.

This is the only kernels module that imports torch; it runs on whatever device the tensor is on.
"""

from __future__ import annotations

import torch
from torch import nn

from kernels.errors import InvalidParameterError, ShapeError
from kernels.quantization import DEFAULT_GRANULARITY, GROUP_SIZE, QMAX, Granularity, Scheme


def fake_quantize(
    w: torch.Tensor,
    scheme: Scheme = "ternary",
    granularity: Granularity | None = None,
    group_size: int = GROUP_SIZE,
) -> torch.Tensor:
    """``s·Q(w)`` in the forward pass, identity gradient in the backward pass."""
    return w + (quantize_dequantize(w.detach(), scheme, granularity, group_size) - w).detach()


def quantize_dequantize(
    w: torch.Tensor,
    scheme: Scheme = "ternary",
    granularity: Granularity | None = None,
    group_size: int = GROUP_SIZE,
) -> torch.Tensor:
    """The dequantized tensor ``s·Q(w)`` (no gradient semantics of its own)."""
    if scheme not in QMAX:
        raise InvalidParameterError("scheme", scheme, "one of " + ", ".join(QMAX))
    if not w.is_floating_point() or w.numel() == 0:
        raise ShapeError("w", tuple(w.shape), "a non-empty floating tensor")
    qmax = QMAX[scheme]
    flat = w.reshape(-1, _group_len(w, granularity or DEFAULT_GRANULARITY[scheme], group_size))
    mag = flat.abs()  # [groups, group_len]
    if scheme == "ternary":
        scale = mag.mean(dim=1, dtype=torch.float64).to(w.dtype)
    else:
        scale = mag.amax(dim=1) / qmax
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    codes = torch.clamp(torch.round(flat / safe[:, None]), -qmax, qmax)
    return (codes * scale[:, None]).reshape(w.shape)


class QuantizedLinear(nn.Linear):
    """``nn.Linear`` whose weight is fake-quantized in every forward pass (bias kept in float)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        scheme: Scheme = "ternary",
        granularity: Granularity | None = None,
        group_size: int = GROUP_SIZE,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.scheme: Scheme = scheme
        self.granularity = granularity
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = fake_quantize(self.weight, self.scheme, self.granularity, self.group_size)
        return nn.functional.linear(x, w, self.bias)


def _group_len(w: torch.Tensor, granularity: str, group_size: int) -> int:
    if granularity == "tensor":
        return w.numel()
    if granularity == "channel":
        return int(w.shape[-1])
    if granularity != "group":
        raise InvalidParameterError("granularity", granularity, "'tensor', 'channel' or 'group'")
    if group_size < 1 or w.shape[-1] % group_size:
        raise ShapeError("w", tuple(w.shape), f"last axis a multiple of group_size={group_size}")
    return group_size
