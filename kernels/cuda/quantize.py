"""Launchers for the fused quantize(+pack) kernels (float32 on the GPU).

Groups of at most ``FUSED_MAX_GROUP`` elements (per group of 128, per channel up to 12288) take
one launch, ``fused_quantize_pack_f32``, which reads the input once. Larger groups (per tensor)
take two launches: ``group_abs_stats_f32`` reads the tensor once for every group's max|x|
and Σ|x| (and counts non-finite values), then ``quantize_pack_f32`` reads it again and writes
one byte per 1, 2 or 4 codes. Codes never exist unpacked in device memory; the way back,
``unpack_dequantize_f32``, reads each byte once and writes the scaled floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels.cuda.module import kernel, threads_for

FUSED_MAX_GROUP = 12 * 1024  # float32 elements staged in 48 KiB of shared memory
CHUNK = 8192  # elements of one group reduced by one block before an atomic merge
MAX_BLOCKS = 65535 * 16


def abs_stats(x: Any, n_groups: int, group_len: int) -> tuple[Any, Any, int]:
    """Per-group ``(max|x| float32[n_groups], Σ|x| float64[n_groups], non-finite count)``."""
    import cupy

    absmax = cupy.zeros(n_groups, dtype=cupy.float32)
    abssum = cupy.zeros(n_groups, dtype=cupy.float64)
    nonfinite = cupy.zeros(1, dtype=cupy.uint64)
    chunk = min(CHUNK, group_len)
    blocks = min(n_groups * (-(-group_len // chunk)), MAX_BLOCKS)
    threads = threads_for(chunk)
    kernel("quantize", "group_abs_stats_f32")(
        (blocks,),
        (threads,),
        (x, np.int64(n_groups), np.int64(group_len), np.int64(chunk), absmax, abssum, nonfinite),
    )
    return absmax, abssum, int(nonfinite.get()[0])


def quantize_pack(
    x: Any,
    scale: Any,
    noise: Any | None,
    row_len: int,
    group_len: int,
    qmax: int,
    bits: int,
) -> Any:
    """``uint8[rows, ceil(row_len·bits/8)]`` from float32 ``x`` (C-contiguous) and its scales."""
    import cupy

    rows = x.size // row_len
    per_byte = 8 // bits
    out_row_len = -(-row_len // per_byte)
    out = cupy.empty((rows, out_row_len), dtype=cupy.uint8)
    total = rows * out_row_len
    threads = 256
    blocks = max(1, min(-(-total // threads), MAX_BLOCKS))
    kernel("quantize", "quantize_pack_f32")(
        (blocks,),
        (threads,),
        (
            x,
            scale,
            x if noise is None else noise,  # never read unless stochastic
            out,
            np.int64(rows),
            np.int64(row_len),
            np.int64(out_row_len),
            np.int64(group_len),
            np.int32(qmax),
            np.int32(bits),
            np.int32(noise is not None),
        ),
    )
    return out


def unpack_dequantize(
    packed: Any, scale: Any, row_len: int, group_len: int, bits: int
) -> tuple[Any, int]:
    """``(float32[rows, row_len], invalid ternary fields)`` from C-contiguous packed bytes."""
    import cupy

    packed_row_len = packed.shape[-1]
    rows = packed.size // packed_row_len
    out = cupy.empty((rows, row_len), dtype=cupy.float32)
    invalid = cupy.zeros(1, dtype=cupy.uint64)
    total = rows * packed_row_len
    blocks = max(1, min(-(-total // 256), MAX_BLOCKS))
    kernel("quantize", "unpack_dequantize_f32")(
        (blocks,),
        (256,),
        (
            packed,
            scale,
            out,
            np.int64(rows),
            np.int64(row_len),
            np.int64(packed_row_len),
            np.int64(group_len),
            np.int32(bits),
            invalid,
        ),
    )
    return out, int(invalid.get()[0])


def fusable(group_len: int, row_len: int, bits: int) -> bool:
    """Whether ``fused_quantize_pack_f32`` can take this layout (see its source comment)."""
    per_byte = 8 // bits
    fits = group_len <= FUSED_MAX_GROUP and group_len <= row_len
    return fits and (group_len % per_byte == 0 or group_len == row_len)


def fused_quantize_pack(
    x: Any, noise: Any | None, group_len: int, row_len: int, qmax: int, bits: int, use_mean: bool
) -> tuple[Any, Any, int]:
    """``(uint8[rows, packed_row_len], float32 scale[n_groups], non-finite count)``, one pass."""
    import cupy

    n_groups = x.size // group_len
    rows = x.size // row_len
    out_row_len = -(-row_len // (8 // bits))
    out = cupy.empty((rows, out_row_len), dtype=cupy.uint8)
    scale = cupy.empty(n_groups, dtype=cupy.float32)
    nonfinite = cupy.zeros(1, dtype=cupy.uint64)
    kernel("quantize", "fused_quantize_pack_f32")(
        (max(1, min(n_groups, MAX_BLOCKS)),),
        (threads_for(group_len),),
        (
            x,
            x if noise is None else noise,  # never read unless stochastic
            scale,
            out,
            np.int64(n_groups),
            np.int32(group_len),
            np.int64(row_len),
            np.int64(out_row_len),
            np.int32(qmax),
            np.int32(bits),
            np.int32(noise is not None),
            np.int32(use_mean),
            nonfinite,
        ),
        shared_mem=4 * group_len,
    )
    return out, scale, int(nonfinite.get()[0])
