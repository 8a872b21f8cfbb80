"""Algorithm-based fault tolerance for matrix products (Huang & Abraham, 1984).

``C_f = [A; 1ᵀA] · [B, B·1]`` is the product with a checksum row and a checksum column. After the
product (where a fault may strike — ``fault`` is a hook that may corrupt ``C_f`` in place) the
row residuals ``Σ_j C_f[i, :n] − C_f[i, n]`` and column residuals ``Σ_i C_f[:m, j] − C_f[m, j]``
are compared with a rounding bound. One flagged row and one flagged column locate a single
corrupted element — in the data or in a checksum — which is recomputed from its row (or column)
checksum; anything else is :class:`UncorrectableError`.

Deliberate choices:
- The bound is the standard forward-error bound of the sums,
  ``τ = c·u·(K + m + n + 2)·(|A||B|1)`` per row (``1ᵀ|A||B|`` per column), with unit roundoff
  ``u`` and safety ``c = 8``; it costs a few matrix–vector products. A corruption smaller than
  ``τ`` is indistinguishable from rounding and no larger than the product's own error bound; it
  goes unreported.
- NaN or ±inf in the product fail the comparison and are flagged like any other corruption; the
  element is recomputed from the checksum, never patched by subtracting a non-finite delta.
- All work stays on the backend; only the flagged indices (a few integers) reach the host.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kernels.backend import Array, Backend, resolve_backend
from kernels.errors import ShapeError, UncorrectableError
from kernels.validation import checked_float

SAFETY = 8.0


@dataclass(frozen=True)
class AbftReport:
    detected: bool
    row: int | None  # position in the checksummed product; row m is the checksum row
    col: int | None  # column n is the checksum column
    delta: float  # corrupted minus recomputed value (nan if the corrupted value was not finite)
    in_checksum: bool  # a checksum was hit, so the product itself was never wrong


@dataclass(frozen=True)
class AbftResult:
    product: Array  # [m, n], corrected
    report: AbftReport


def checksummed_product(a: Array, b: Array, backend: Backend | str | None = None) -> Array:
    """``[A; 1ᵀA] @ [B, B1]`` of shape ``[m + 1, n + 1]``, as ``AB`` (one aligned GEMM) bordered
    by the matrix–vector products ``A(B1)``, ``(1ᵀA)B`` and ``(1ᵀA)(B1)``: the same matrix as
    the encoded product, without padding the GEMM to odd sizes."""
    xp = resolve_backend(backend).xp
    m, n = a.shape[0], b.shape[1]
    col_sum_a, row_sum_b = a.sum(axis=0), b.sum(axis=1)  # [K], [K]
    full = xp.empty((m + 1, n + 1), dtype=xp.result_type(a, b))
    full[:m, :n] = a @ b
    full[:m, n] = _matvec(xp, a, row_sum_b)
    full[m, :n] = _vecmat(xp, col_sum_a, b)
    full[m, n] = col_sum_a @ row_sum_b
    return full


def _matvec(xp: Any, a: Array, v: Array) -> Array:
    # einsum, not ``@``: NumPy's einsum loop is single-threaded, and multi-threaded BLAS gemv
    # on a loaded machine was measured 10-50x slower than the loop; on CuPy both are cuBLAS.
    return xp.einsum("ij,j->i", a, v)


def _vecmat(xp: Any, v: Array, a: Array) -> Array:
    return xp.einsum("j,jk->k", v, a)


def checked_matmul(
    a: Any,
    b: Any,
    fault: Callable[[Array], None] | None = None,
    backend: Backend | str | None = None,
) -> AbftResult:
    """``A @ B`` with a single corrupted element detected, located and corrected."""
    bk = resolve_backend(backend)
    a = checked_float(bk, a, "a", min_ndim=2)
    b = checked_float(bk, b, "b", min_ndim=2)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError("b", b.shape, f"[{a.shape[-1]}, n] to multiply a of shape {a.shape}")
    full = checksummed_product(a, b, bk)
    if fault is not None:
        fault(full)
    return verify_and_correct(bk, full, a, b)


def verify_and_correct(bk: Backend, full: Array, a: Array, b: Array) -> AbftResult:
    """Check ``full`` (from :func:`checksummed_product`) and repair one corrupted element."""
    xp = bk.xp
    m, n = full.shape[0] - 1, full.shape[1] - 1
    row_res = full[:, :n].sum(axis=1) - full[:, n]  # [m+1]
    col_res = full[:m, :].sum(axis=0) - full[m, :]  # [n+1]
    row_tol, col_tol = _bounds(bk, a, b)
    # "not within" rather than "above", so NaN residuals are flagged; only indices reach the host
    bad_rows = tuple(bk.to_numpy(xp.nonzero(~(xp.abs(row_res) <= row_tol))[0]).tolist())
    bad_cols = tuple(bk.to_numpy(xp.nonzero(~(xp.abs(col_res) <= col_tol))[0]).tolist())
    if not bad_rows and not bad_cols:
        return AbftResult(full[:m, :n], AbftReport(False, None, None, 0.0, False))
    if len(bad_rows) != 1 or len(bad_cols) != 1:
        raise UncorrectableError(bad_rows, bad_cols)
    i, j = bad_rows[0], bad_cols[0]
    old = float(full[i, j])
    new = _recomputed(xp, full, i, j)
    full[i, j] = new
    delta = old - float(new) if math.isfinite(old) else math.nan
    return AbftResult(full[:m, :n], AbftReport(True, i, j, delta, i == m or j == n))


def _recomputed(xp: Any, full: Array, i: int, j: int) -> Array:
    """The value of ``full[i, j]`` implied by its checksum (row sum, or column sum in row m)."""
    m, n = full.shape[0] - 1, full.shape[1] - 1
    if j == n:
        return full[i, :n].sum()
    if i == m:
        return full[:m, j].sum()
    others = xp.concatenate([full[i, :j], full[i, j + 1 : n]])
    return full[i, n] - others.sum()


def _bounds(bk: Backend, a: Array, b: Array) -> tuple[Array, Array]:
    xp = bk.xp
    m, k = a.shape
    n = b.shape[1]
    u = float(xp.finfo(a.dtype).eps) / 2
    abs_a, abs_b = xp.abs(a), xp.abs(b)
    col_abs_a = abs_a.sum(axis=0)  # [K]  1ᵀ|A|
    row_abs_b = abs_b.sum(axis=1)  # [K]  |B|1
    corner = (col_abs_a @ row_abs_b)[None]
    rows = xp.concatenate([_matvec(xp, abs_a, row_abs_b), corner])  # [m+1]
    cols = xp.concatenate([_vecmat(xp, col_abs_a, abs_b), corner])  # [n+1]
    factor = SAFETY * u * (k + m + n + 2)
    tiny = float(xp.finfo(a.dtype).tiny)
    return factor * rows + tiny, factor * cols + tiny
