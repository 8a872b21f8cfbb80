"""Torch fake quantization: forward equals the NumPy dequantized tensor, gradient is identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels.backend import Backend
from kernels.errors import InvalidParameterError, ShapeError
from kernels.qat import QuantizedLinear, fake_quantize, quantize_dequantize
from kernels.quantization import Granularity, Scheme, dequantize, quantize


@pytest.mark.parametrize("scheme", ["ternary", "int8", "int4"])
@pytest.mark.parametrize("granularity", ["tensor", "channel", "group"])
def test_forward_value_equals_the_kernel_dequantization(
    rng: np.random.Generator, np_bk: Backend, scheme: Scheme, granularity: Granularity
) -> None:
    w = rng.standard_normal((6, 256)).astype(np.float32)
    ours = fake_quantize(torch.from_numpy(w), scheme, granularity).numpy()
    ref = dequantize(quantize(w, scheme, granularity, backend=np_bk), np_bk)
    # ternary γ is a float64 mean in both; summation order may move its last float32 bit
    np.testing.assert_allclose(ours, ref, rtol=2e-7, atol=0)


def test_gradient_passes_straight_through(rng: np.random.Generator) -> None:
    w = torch.tensor(rng.standard_normal((4, 128)), dtype=torch.float32, requires_grad=True)
    upstream = torch.tensor(rng.standard_normal((4, 128)), dtype=torch.float32)
    (fake_quantize(w, "ternary") * upstream).sum().backward()
    assert w.grad is not None
    torch.testing.assert_close(w.grad, upstream, rtol=0, atol=0)


def test_quantized_linear_uses_the_quantized_weight_and_learns(rng: np.random.Generator) -> None:
    torch.manual_seed(int(rng.integers(1 << 31)))
    layer = QuantizedLinear(128, 8, scheme="int4", granularity="group")
    x = torch.randn(32, 128)
    expected = x @ quantize_dequantize(layer.weight.detach(), "int4", "group").T + layer.bias
    torch.testing.assert_close(layer(x), expected.detach())
    target = torch.randn(32, 8)
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(layer(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_invalid_arguments_raise_typed_errors() -> None:
    with pytest.raises(InvalidParameterError):
        quantize_dequantize(torch.ones(4, 128), "int2")  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        quantize_dequantize(torch.ones(4, 100), "int4", "group")
    with pytest.raises(ShapeError):
        quantize_dequantize(torch.ones(4, 128, dtype=torch.int32), "int8")
