"""Launcher for the batched syndrome kernel (``s = He mod 2`` and its integer index)."""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels.cuda.module import kernel

SHARED_BYTES = 48 * 1024  # default dynamic shared memory limit per block
MAX_CHECKS = 63  # the syndrome index is a signed 64-bit integer
MAX_BLOCKS = 65535 * 16


def block_size(m: int, n: int) -> int:
    """Threads per block so that H and the tile of words fit in shared memory (0: they cannot)."""
    rows = (SHARED_BYTES - m * n) // n
    return min(256, rows // 32 * 32) if m <= MAX_CHECKS else 0


def syndromes(checks: Any, words: Any, threads: int) -> tuple[Any, Any]:
    """``(uint8[B, m], int64[B])`` for C-contiguous uint8 ``checks[m, n]`` and ``words[B, n]``."""
    import cupy

    m, n = checks.shape
    batch = words.shape[0]
    out = cupy.empty((batch, m), dtype=cupy.uint8)
    index = cupy.empty(batch, dtype=cupy.int64)
    blocks = max(1, min(-(-batch // threads), MAX_BLOCKS))
    kernel("syndrome", "syndrome_u8")(
        (blocks,),
        (threads,),
        (checks, words, np.int64(batch), np.int32(m), np.int32(n), out, index),
        shared_mem=m * n + threads * n,
    )
    return out, index
