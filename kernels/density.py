"""Density matrices: from a state, the nearest one to a noisy Hermitian estimate, diagnostics.

Standard forms (MODEL.md §2):
- ``ρ = ψψ† / ψ†ψ`` for states ``ψ[..., n]``;
- nearest density matrix (Frobenius norm) to Hermitian ``A[..., n, n]``: ``UΛU† = (A + A†)/2``,
  ``μ`` = Euclidean projection of ``λ`` onto the probability simplex, ``ρ* = U diag(μ) U†``
  (Smolin, Gambetta & Smith, PRL 108, 070502 (2012));
- purity ``Tr ρ² = Σ|ρ_ij|²``, von Neumann entropy ``−Σ λ ln λ`` (nats, ``0 ln 0 = 0``),
  l1 coherence ``Σ_{i≠j} |ρ_ij|``.

Deliberate choices:
- Hermiticity is checked before symmetrizing: ``‖A − A†‖_F ≤ rtol·‖A‖_F`` with rtol 1e-4 for
  single and 1e-8 for double precision by default; larger asymmetry is :class:`NotHermitianError`,
  not something to average away silently.
- ``μ`` is renormalized by its sum after the projection, so ``Tr ρ*`` is 1 to rounding.
- Batched throughout. On CuPy, ``cupy.linalg.eigh`` of a stack dispatches to cuSOLVER's batched
  Jacobi eigensolver (``syevjBatched`` / ``heevjBatched``); the simplex step is sort + cumsum.

Tolerances (tests, float64): projection matches a per-matrix float64 reference to 1e-10; PSD to
−1e-12; trace 1 to 1e-12; projecting twice changes nothing to 1e-10.
"""

from __future__ import annotations

from typing import Any

from kernels.backend import Array, Backend, resolve_backend
from kernels.errors import ZeroNormError
from kernels.validation import checked_numeric, require_hermitian, require_square


def density_from_state(psi: Any, backend: Backend | str | None = None) -> Array:
    """``ρ[..., n, n] = ψψ†/ψ†ψ`` for states ``ψ[..., n]``."""
    bk = resolve_backend(backend)
    xp = bk.xp
    psi = checked_numeric(bk, psi, "psi")
    norm2 = xp.sum(xp.abs(psi) ** 2, axis=-1)  # [...]
    zero = int((norm2 == 0).sum())
    if zero:
        raise ZeroNormError("psi", zero)
    outer = psi[..., :, None] * xp.conj(psi)[..., None, :]  # [..., n, n]
    return outer / norm2[..., None, None]


def project_to_simplex(v: Any, backend: Backend | str | None = None) -> Array:
    """Euclidean projection of each ``v[..., n]`` onto ``{μ ≥ 0, Σμ = 1}`` (real input)."""
    bk = resolve_backend(backend)
    v = checked_numeric(bk, v, "v")
    return _simplex(bk, v, descending=bk.xp.flip(bk.xp.sort(v, axis=-1), axis=-1))


def nearest_density_matrix(
    a: Any, hermitian_rtol: float | None = None, backend: Backend | str | None = None
) -> Array:
    """The density matrix nearest (Frobenius) to each Hermitian ``A[..., n, n]``."""
    bk = resolve_backend(backend)
    xp = bk.xp
    a = _checked_hermitian(bk, a, "a", hermitian_rtol)
    h = (a + xp.conj(xp.swapaxes(a, -1, -2))) / 2
    lam, u = xp.linalg.eigh(h)  # [..., n] ascending, [..., n, n] eigenvectors in columns
    mu = _simplex(bk, lam, descending=xp.flip(lam, axis=-1))
    mu = mu / mu.sum(axis=-1, keepdims=True)
    return (u * mu[..., None, :]) @ xp.conj(xp.swapaxes(u, -1, -2))


def purity(
    rho: Any, hermitian_rtol: float | None = None, backend: Backend | str | None = None
) -> Array:
    """``Tr ρ²`` per matrix, shape ``[...]``."""
    bk = resolve_backend(backend)
    rho = _checked_hermitian(bk, rho, "rho", hermitian_rtol)
    return bk.xp.sum(bk.xp.abs(rho) ** 2, axis=(-2, -1))


def von_neumann_entropy(
    rho: Any, hermitian_rtol: float | None = None, backend: Backend | str | None = None
) -> Array:
    """``−Tr ρ ln ρ`` in nats per matrix; eigenvalues below 0 (rounding) count as 0."""
    bk = resolve_backend(backend)
    xp = bk.xp
    rho = _checked_hermitian(bk, rho, "rho", hermitian_rtol)
    lam = xp.linalg.eigvalsh((rho + xp.conj(xp.swapaxes(rho, -1, -2))) / 2)  # [..., n]
    lam = xp.clip(lam, 0, None)
    safe = xp.where(lam > 0, lam, 1)  # 0·ln 0 = 0 without evaluating ln 0
    return -xp.sum(lam * xp.log(safe), axis=-1)


def l1_coherence(
    rho: Any, hermitian_rtol: float | None = None, backend: Backend | str | None = None
) -> Array:
    """``Σ_{i≠j} |ρ_ij|`` per matrix (basis-dependent: the computational basis)."""
    bk = resolve_backend(backend)
    xp = bk.xp
    rho = _checked_hermitian(bk, rho, "rho", hermitian_rtol)
    total = xp.sum(xp.abs(rho), axis=(-2, -1))
    return total - xp.sum(xp.abs(xp.diagonal(rho, axis1=-2, axis2=-1)), axis=-1)


def default_hermitian_rtol(dtype: Any) -> float:
    """1e-4 in single (or half) precision, 1e-8 in double."""
    real_bytes = dtype.itemsize // 2 if dtype.kind == "c" else dtype.itemsize
    return 1e-4 if real_bytes <= 4 else 1e-8


def _checked_hermitian(bk: Backend, a: Any, name: str, rtol: float | None) -> Array:
    a = checked_numeric(bk, a, name, min_ndim=2)
    require_square(a, name)
    require_hermitian(bk, a, name, default_hermitian_rtol(a.dtype) if rtol is None else rtol)
    return a


def _simplex(bk: Backend, v: Array, descending: Array) -> Array:
    """Duchi et al. (2008): θ from the sorted values, then ``max(v − θ, 0)``."""
    xp = bk.xp
    n = v.shape[-1]
    css = xp.cumsum(descending, axis=-1)  # [..., n]
    k = xp.arange(1, n + 1, dtype=v.dtype)
    support = xp.sum(descending - (css - 1) / k > 0, axis=-1, keepdims=True)  # [..., 1], ≥ 1
    theta = (xp.take_along_axis(css, support - 1, axis=-1) - 1) / support.astype(v.dtype)
    return xp.maximum(v - theta, 0)
