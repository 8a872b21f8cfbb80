"""Quantization: ternary absmean and symmetric int8 / int4, per tensor, channel or group.

Standard forms (MODEL.md §2):
- ternary: ``γ = mean|W|`` over the group, ``Ŵ = clamp(round(W/γ), −1, 1)``, weight ``γŴ``;
- int8 / int4: ``s = max|W| / q_max`` with ``q_max`` 127 / 7 (symmetric: −128 and −8 unused),
  ``Ŵ = clamp(round(W/s), −q_max, q_max)``.

Granularity groups consecutive elements in C order: ``tensor`` (one group), ``channel`` (one
group per row of the last axis; the usual per-output-channel scale for ``W[out, in]``) or
``group`` (``group_size`` elements of the last axis, 128 by default; the last axis must be a
multiple of it). Scales have shape ``()`` per tensor, else ``W.shape[:-1] + (groups_per_row,)``.

Deliberate choices:
- Rounding is half to even (``rint``); ``rounding="stochastic"`` uses ``floor(W/s + u)``,
  ``u ~ U[0, 1)``, which is unbiased (``E[Ŵ] = W/s`` inside the clamp range).
- A group of zeros has scale 0 and codes 0 (no ε in the denominator, which would bias γ).
- The absmean is accumulated in float64 whatever the input dtype, so the GPU path (float64
  atomics) and the NumPy path agree on γ to the last bit in practice.
- On CuPy with float32 input, quantize+pack runs as two fused CUDA kernels (kernels/cuda).

Tolerances (tests): float64 codes equal a per-group float64 reference except where ``W/s`` lies
within 1e-9 of a rounding boundary; ``|W − sŴ| ≤ s/2`` inside the clamp range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from kernels import packing
from kernels.backend import Array, Backend, resolve_backend
from kernels.errors import DTypeError, InvalidParameterError, OutOfRangeError, ShapeError
from kernels.validation import checked_float, require_finite, require_same_shape

Scheme = Literal["ternary", "int8", "int4"]
Granularity = Literal["tensor", "channel", "group"]
Rounding = Literal["nearest", "stochastic"]
QMAX: dict[str, int] = {"ternary": 1, "int8": 127, "int4": 7}
DEFAULT_GRANULARITY: dict[str, Granularity] = {
    "ternary": "tensor",
    "int8": "channel",
    "int4": "group",
}
GROUP_SIZE = 128


@dataclass(frozen=True)
class QuantizedTensor:
    """Integer codes (``int8``, the input's shape) and the scales that dequantize them."""

    codes: Array
    scale: Array
    scheme: Scheme


@dataclass(frozen=True)
class PackedTensor:
    """Packed codes ``uint8[..., ceil(K / per_byte)]``, scales, and the unpacked shape."""

    data: Array
    scale: Array
    scheme: Scheme
    shape: tuple[int, ...]


@dataclass(frozen=True)
class QuantizationStats:
    """Error of a reconstruction ``Ŵ`` of ``W``."""

    mse: float
    max_abs_error: float
    relative_error: float  # ‖W − Ŵ‖_F / ‖W‖_F
    sqnr_db: float  # 10·log10(‖W‖² / ‖W − Ŵ‖²); inf for an exact reconstruction


@dataclass(frozen=True)
class _Plan:
    group_len: int
    scale_shape: tuple[int, ...]


def quantize(
    w: Any,
    scheme: Scheme = "int8",
    granularity: Granularity | None = None,
    group_size: int = GROUP_SIZE,
    rounding: Rounding = "nearest",
    seed: int | None = None,
    noise: Any = None,
    backend: Backend | str | None = None,
) -> QuantizedTensor:
    """Quantize ``w`` (float, any shape with ndim ≥ 1). ``noise``: optional U[0,1) draws of
    ``w``'s shape for stochastic rounding (else drawn from ``seed`` on the backend's device)."""
    bk = resolve_backend(backend)
    w, plan, u = _prepare(bk, w, scheme, granularity, group_size, rounding, seed, noise)
    if _fused(bk, w):
        data, scale = _gpu_quantize_pack(bk, w, scheme, plan, u, bits=8)
        return QuantizedTensor(data.view(bk.xp.int8).reshape(w.shape), scale, scheme)
    codes, scale = _quantize_generic(bk, w, scheme, plan, u)
    return QuantizedTensor(codes, scale, scheme)


def quantize_pack(
    w: Any,
    scheme: Scheme = "int4",
    granularity: Granularity | None = None,
    group_size: int = GROUP_SIZE,
    rounding: Rounding = "nearest",
    seed: int | None = None,
    noise: Any = None,
    backend: Backend | str | None = None,
) -> PackedTensor:
    """Quantize and pack in one step (fused on the GPU: codes are never stored unpacked)."""
    bk = resolve_backend(backend)
    w, plan, u = _prepare(bk, w, scheme, granularity, group_size, rounding, seed, noise)
    if _fused(bk, w):
        data, scale = _gpu_quantize_pack(bk, w, scheme, plan, u, bits=packing.BITS[scheme])
        data = data.reshape(*w.shape[:-1], -1)
    else:
        codes, scale = _quantize_generic(bk, w, scheme, plan, u)
        data = packing.pack(codes, scheme, bk)
    return PackedTensor(data, scale, scheme, tuple(w.shape))


def unpack_tensor(p: PackedTensor, backend: Backend | str | None = None) -> QuantizedTensor:
    codes = packing.unpack(p.data, p.scheme, p.shape[-1], backend)
    return QuantizedTensor(codes.reshape(p.shape), p.scale, p.scheme)


def dequantize(q: QuantizedTensor | PackedTensor, backend: Backend | str | None = None) -> Array:
    """``s·Ŵ`` in the scale's dtype, the shape of the original tensor."""
    bk = resolve_backend(backend)
    if isinstance(q, PackedTensor):
        if bk.is_gpu and bk.asarray(q.scale).dtype == bk.xp.float32:
            return _gpu_unpack_dequantize(bk, q)
        q = unpack_tensor(q, bk)
    codes, scale = bk.asarray(q.codes), bk.asarray(q.scale)
    group_len = codes.size // max(scale.size, 1)
    grouped = codes.reshape(-1, group_len)  # [groups, group_len]
    return bk.xp.multiply(grouped, scale.reshape(-1, 1), dtype=scale.dtype).reshape(codes.shape)


def quantization_stats(
    w: Any, w_hat: Any, backend: Backend | str | None = None
) -> QuantizationStats:
    bk = resolve_backend(backend)
    xp = bk.xp
    w = checked_float(bk, w, "w")
    w_hat = bk.asarray(w_hat)
    require_same_shape(w_hat, "w_hat", w.shape, "w")
    require_finite(bk, w_hat, "w_hat")
    err = (w.astype(xp.float64) - w_hat.astype(xp.float64)).ravel()
    err_sq = float(err @ err)
    sig_sq = float(xp.sum(xp.square(w.astype(xp.float64))))
    return QuantizationStats(
        mse=err_sq / err.size,
        max_abs_error=float(xp.abs(err).max()),
        relative_error=math.sqrt(err_sq / sig_sq) if sig_sq > 0 else math.sqrt(err_sq),
        sqnr_db=10.0 * math.log10(sig_sq / err_sq) if err_sq > 0 else math.inf,
    )


def _prepare(
    bk: Backend,
    w: Any,
    scheme: str,
    granularity: Granularity | None,
    group_size: int,
    rounding: str,
    seed: int | None,
    noise: Any,
) -> tuple[Array, _Plan, Array | None]:
    if scheme not in QMAX:
        raise InvalidParameterError("scheme", scheme, "one of " + ", ".join(QMAX))
    if rounding not in ("nearest", "stochastic"):
        raise InvalidParameterError("rounding", rounding, "'nearest' or 'stochastic'")
    arr = bk.asarray(w)
    # the fused GPU kernels count non-finite values as they read; elsewhere check up front
    w = bk.xp.ascontiguousarray(checked_float(bk, arr, "w", finite=not _fused(bk, arr)))
    plan = _plan(tuple(w.shape), granularity or DEFAULT_GRANULARITY[scheme], group_size)
    if rounding == "nearest":
        return w, plan, None
    if noise is None:
        return w, plan, bk.uniform(tuple(w.shape), seed, w.dtype)
    u = bk.xp.ascontiguousarray(checked_float(bk, noise, "noise").astype(w.dtype, copy=False))
    require_same_shape(u, "noise", w.shape, "w")
    return w, plan, u


def _plan(shape: tuple[int, ...], granularity: str, group_size: int) -> _Plan:
    k = shape[-1]
    if granularity == "tensor":
        return _Plan(math.prod(shape), ())
    if granularity == "channel":
        return _Plan(k, (*shape[:-1], 1))
    if granularity != "group":
        raise InvalidParameterError("granularity", granularity, "'tensor', 'channel' or 'group'")
    if group_size < 1:
        raise InvalidParameterError("group_size", group_size, "a positive integer")
    if k % group_size:
        raise ShapeError("w", shape, f"last axis a multiple of group_size={group_size}")
    return _Plan(group_size, (*shape[:-1], k // group_size))


def _quantize_generic(
    bk: Backend, w: Array, scheme: str, plan: _Plan, u: Array | None
) -> tuple[Array, Array]:
    xp = bk.xp
    qmax = QMAX[scheme]
    flat = w.reshape(-1, plan.group_len)  # [groups, group_len]
    if scheme == "ternary":
        scale = xp.abs(flat).mean(axis=1, dtype=xp.float64).astype(w.dtype)
    else:  # max|x| as two reductions: reads the input twice but writes no |x| temporary
        scale = xp.maximum(flat.max(axis=1), -flat.min(axis=1)) / w.dtype.type(qmax)
    safe = xp.where(scale > 0, scale, w.dtype.type(1))  # a zero group quantizes to zeros
    x = flat / safe[:, None]  # the one float temporary; rounded and clamped in place
    if u is None:
        xp.rint(x, out=x)
    else:
        x += u.reshape(flat.shape)
        xp.floor(x, out=x)
    xp.clip(x, -qmax, qmax, out=x)
    return x.astype(xp.int8).reshape(w.shape), scale.reshape(plan.scale_shape)


def _fused(bk: Backend, w: Array) -> bool:
    return bk.is_gpu and w.dtype == bk.xp.float32


def _gpu_quantize_pack(
    bk: Backend, w: Array, scheme: str, plan: _Plan, u: Array | None, bits: int
) -> tuple[Array, Array]:
    from kernels.cuda import quantize as cuda_quantize

    row_len = w.shape[-1]
    if cuda_quantize.fusable(plan.group_len, row_len, bits):
        data, scale, nonfinite = cuda_quantize.fused_quantize_pack(
            w, u, plan.group_len, row_len, QMAX[scheme], bits, use_mean=scheme == "ternary"
        )
        if nonfinite:
            require_finite(bk, w, "w")
        return data, scale.reshape(plan.scale_shape)
    n_groups = w.size // plan.group_len
    absmax, abssum, nonfinite = cuda_quantize.abs_stats(w, n_groups, plan.group_len)
    if nonfinite:
        require_finite(bk, w, "w")  # raises, with the first offending index
    if scheme == "ternary":
        scale = (abssum / plan.group_len).astype(w.dtype)
    else:
        scale = absmax / w.dtype.type(QMAX[scheme])
    data = cuda_quantize.quantize_pack(w, scale, u, w.shape[-1], plan.group_len, QMAX[scheme], bits)
    return data, scale.reshape(plan.scale_shape)


def _gpu_unpack_dequantize(bk: Backend, p: PackedTensor) -> Array:
    from kernels.cuda import quantize as cuda_quantize

    data = bk.xp.ascontiguousarray(bk.asarray(p.data))
    scale = bk.xp.ascontiguousarray(bk.asarray(p.scale))
    if data.dtype != bk.xp.uint8:
        raise DTypeError("packed", data.dtype, "uint8")
    row_len = p.shape[-1]
    if data.shape[-1] != packing.packed_length(row_len, p.scheme):
        raise ShapeError(
            "packed", data.shape, f"last axis {packing.packed_length(row_len, p.scheme)}"
        )
    group_len = math.prod(p.shape) // max(scale.size, 1)
    out, invalid = cuda_quantize.unpack_dequantize(
        data, scale, row_len, group_len, packing.BITS[p.scheme]
    )
    if invalid:
        raise OutOfRangeError("packed ternary codes", 0, 2, (0, 3))
    return out.reshape(p.shape)
