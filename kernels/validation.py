"""Input checks shared by the kernels; each raises one error of :mod:`kernels.errors`.

Boundary: checks read arrays of the active backend and report on the host only small scalars (a
count, a first index, a norm), so a check never copies an array off the GPU.
"""

from __future__ import annotations

from typing import Any

from kernels.backend import Array, Backend
from kernels.errors import (
    DTypeError,
    EmptyInputError,
    NonFiniteError,
    NotHermitianError,
    ShapeError,
)


def require_nonempty(x: Array, name: str) -> None:
    if x.size == 0:
        raise EmptyInputError(name, x.shape)


def require_ndim(x: Array, name: str, minimum: int, maximum: int | None = None) -> None:
    if x.ndim < minimum or (maximum is not None and x.ndim > maximum):
        expected = f"{minimum}" + ("+" if maximum is None else f"..{maximum}") + " dimensions"
        raise ShapeError(name, x.shape, expected)


def require_square(x: Array, name: str) -> None:
    require_ndim(x, name, 2)
    if x.shape[-1] != x.shape[-2]:
        raise ShapeError(name, x.shape, "[..., n, n]")


def require_same_shape(x: Array, name: str, shape: tuple[int, ...], like: str) -> None:
    if tuple(x.shape) != tuple(shape):
        raise ShapeError(name, x.shape, f"{tuple(shape)} (the shape of {like})")


def require_kind(x: Array, name: str, kinds: str, expected: str) -> None:
    """``kinds`` are NumPy kind letters: f float, c complex, i/u integer, b bool."""
    if x.dtype.kind not in kinds:
        raise DTypeError(name, x.dtype, expected)


def require_finite(bk: Backend, x: Array, name: str) -> None:
    if x.dtype.kind not in "fc":
        return
    # A sum is finite only if every term is: one reduction without a boolean temporary. A
    # non-finite sum may still be an overflow of finite terms, so only then look element-wise.
    if bool(bk.xp.isfinite(x.sum())):
        return
    bad = ~bk.xp.isfinite(x)
    count = int(bad.sum())
    if count:
        first = tuple(int(i[0]) for i in bk.xp.nonzero(bad))
        raise NonFiniteError(name, count, first)


def require_hermitian(bk: Backend, a: Array, name: str, rtol: float) -> None:
    """Each matrix of a ``[..., n, n]`` stack must satisfy ``‖A − A†‖_F ≤ rtol·‖A‖_F``."""
    xp = bk.xp
    anti = xp.linalg.norm(a - xp.conj(xp.swapaxes(a, -1, -2)), axis=(-2, -1))
    scale = xp.maximum(xp.linalg.norm(a, axis=(-2, -1)), xp.finfo(anti.dtype).tiny)
    worst = float((anti / scale).max())
    if worst > rtol:
        raise NotHermitianError(name, worst, rtol)


def checked_float(bk: Backend, x: Any, name: str, min_ndim: int = 1, finite: bool = True) -> Array:
    """``x`` as a real floating array of this backend, non-empty and (unless a fused kernel
    checks it on the way) finite."""
    arr = bk.asarray(x)
    require_kind(arr, name, "f", "a real floating dtype (float32 or float64)")
    require_ndim(arr, name, min_ndim)
    require_nonempty(arr, name)
    if finite:
        require_finite(bk, arr, name)
    return arr


def checked_numeric(
    bk: Backend, x: Any, name: str, min_ndim: int = 1, finite: bool = True
) -> Array:
    """``x`` as a real or complex floating array, non-empty and finite (integers are promoted)."""
    arr = bk.asarray(x)
    if arr.dtype.kind in "biu":
        arr = arr.astype(bk.xp.float64)
    require_kind(arr, name, "fc", "a real or complex floating dtype")
    require_ndim(arr, name, min_ndim)
    require_nonempty(arr, name)
    if finite:
        require_finite(bk, arr, name)
    return arr
