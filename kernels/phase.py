"""Phase alignment of states to a reference, and fidelity; batched over leading axes.

Standard forms (MODEL.md §2): ``ψ ← ψ·e^{−i·arg⟨r,ψ⟩}`` with ``⟨r,ψ⟩ = Σ conj(r_i)ψ_i``, after
which ``⟨r,ψ⟩`` is real and non-negative; fidelity ``|⟨r,ψ⟩|² / (‖r‖²‖ψ‖²)`` ∈ [0, 1].

Deliberate choices:
- ``reference`` is one state ``[n]`` shared by the batch, or one per state (``psi``'s shape).
- When ``⟨r,ψ⟩ = 0`` the phase is undefined and ``ψ`` is returned unchanged (fidelity 0).
- A zero-norm state or reference has no fidelity: :class:`ZeroNormError`.
- On CuPy with complex input, one fused kernel reads each state once for the inner product and
  both norms (accumulated in float64) and writes the aligned state: memory-bound, one pass.

Tolerances (tests): float64 results match a per-state float64 reference to 1e-12 (relative);
complex64 to 1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernels.backend import Array, Backend, resolve_backend
from kernels.errors import NonFiniteError, ShapeError, ZeroNormError
from kernels.validation import checked_numeric, require_finite


@dataclass(frozen=True)
class Alignment:
    aligned: Array  # [..., n]
    fidelity: Array  # [...]


def align_phase(psi: Any, reference: Any, backend: Backend | str | None = None) -> Alignment:
    """Rotate each state's global phase so its overlap with ``reference`` is real ≥ 0."""
    bk = resolve_backend(backend)
    psi, ref, fused = _checked_pair(bk, psi, reference, allow_fused=True)
    if fused:
        return _align_gpu(bk, psi, ref)
    xp = bk.xp
    ip, fid = _overlap(bk, psi, ref)
    mag = xp.abs(ip)
    phase = xp.where(mag > 0, ip / xp.where(mag > 0, mag, 1), 1)  # e^{i arg<r,psi>}
    return Alignment(psi * xp.conj(phase)[..., None], fid)


def fidelity(psi: Any, reference: Any, backend: Backend | str | None = None) -> Array:
    """``|⟨r,ψ⟩|² / (‖r‖²‖ψ‖²)`` per state, shape ``psi.shape[:-1]``."""
    bk = resolve_backend(backend)
    psi, ref, _ = _checked_pair(bk, psi, reference, allow_fused=False)
    return _overlap(bk, psi, ref)[1]


def _overlap(bk: Backend, psi: Array, ref: Array) -> tuple[Array, Array]:
    xp = bk.xp
    ip = xp.sum(xp.conj(ref) * psi, axis=-1)  # [...]
    n_psi = xp.sum(xp.abs(psi) ** 2, axis=-1)
    n_ref = xp.sum(xp.abs(ref) ** 2, axis=-1)
    zero = int(xp.sum(n_psi == 0)) + int(xp.sum(n_ref == 0))
    if zero:
        raise ZeroNormError("psi/reference", zero)
    return ip, xp.abs(ip) ** 2 / (n_psi * n_ref)


def _align_gpu(bk: Backend, psi: Array, ref: Array) -> Alignment:
    from kernels.cuda import phase as cuda_phase

    xp = bk.xp
    shared = ref.ndim == 1
    flat = xp.ascontiguousarray(psi.reshape(-1, psi.shape[-1]))  # [rows, n]
    r = xp.ascontiguousarray(ref.astype(psi.dtype, copy=False))
    out, fid, nonfinite, zero = cuda_phase.align(flat, r, shared)
    if nonfinite:
        require_finite(bk, psi, "psi")
        require_finite(bk, ref, "reference")
        raise NonFiniteError("psi/reference", nonfinite, ())
    if zero:
        raise ZeroNormError("psi/reference", zero)
    return Alignment(out.reshape(psi.shape), fid.reshape(psi.shape[:-1]))


def _checked_pair(
    bk: Backend, psi: Any, reference: Any, allow_fused: bool
) -> tuple[Array, Array, bool]:
    """Validated ``(psi, reference, fused)``; ``fused``: the GPU kernel will run and count
    non-finite values as it reads, so the separate finiteness pass is skipped."""
    psi, reference = bk.asarray(psi), bk.asarray(reference)
    fused = allow_fused and bk.is_gpu and psi.dtype.kind == "c"
    psi = checked_numeric(bk, psi, "psi", finite=not fused)
    ref = checked_numeric(bk, reference, "reference", finite=not fused)
    if ref.shape != psi.shape and ref.shape != psi.shape[-1:]:
        raise ShapeError("reference", ref.shape, f"{psi.shape[-1:]} or {psi.shape}")
    return psi, ref, fused
