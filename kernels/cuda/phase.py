"""Launcher for the fused phase-alignment kernel (one block per state, one read + one write)."""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels.cuda.module import kernel, threads_for

MAX_BLOCKS = 65535 * 16


def align(psi: Any, ref: Any, shared_reference: bool) -> tuple[Any, Any, int, int]:
    """``(aligned[rows, n], fidelity[rows], non-finite count, zero-norm count)`` for C-contiguous
    complex64/complex128 ``psi[rows, n]`` and ``ref[n]`` (shared) or ``ref[rows, n]``."""
    import cupy

    rows, n = psi.shape
    name = "phase_align_c64" if psi.dtype == cupy.complex64 else "phase_align_c128"
    real = cupy.float32 if psi.dtype == cupy.complex64 else cupy.float64
    out = cupy.empty_like(psi)
    fidelity = cupy.empty(rows, dtype=real)
    flags = cupy.zeros(2, dtype=cupy.uint64)
    kernel("phase", name)(
        (max(1, min(rows, MAX_BLOCKS)),),
        (threads_for(n),),
        (
            psi,
            ref,
            np.int64(rows),
            np.int64(n),
            np.int64(0 if shared_reference else n),
            out,
            fidelity,
            flags,
        ),
    )
    nonfinite, zero_norm = (int(v) for v in flags.get())
    return out, fidelity, nonfinite, zero_norm
