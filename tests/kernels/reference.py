"""Float64 references written independently of the kernels: explicit loops, textbook formulas,
and (for the simplex) a different algorithm (bisection on the threshold)."""

from __future__ import annotations

import math

import numpy as np


def quantize_reference(w: np.ndarray, scheme: str, group_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x = W/s before rounding, s per group)`` with a Python loop over groups."""
    qmax = {"ternary": 1, "int8": 127, "int4": 7}[scheme]
    flat = np.asarray(w, dtype=np.float64).reshape(-1, group_len)
    scales = np.empty(flat.shape[0])
    x = np.empty_like(flat)
    for g, row in enumerate(flat):
        s = (
            float(np.mean(np.abs(row)))
            if scheme == "ternary"
            else float(np.max(np.abs(row))) / qmax
        )
        scales[g] = s
        x[g] = row / s if s > 0 else 0.0
    return x.reshape(np.shape(w)), scales


def simplex_by_bisection(v: np.ndarray, iterations: int = 200) -> np.ndarray:
    """Projection onto the simplex: find θ with Σ max(v − θ, 0) = 1 by bisection."""
    lo, hi = float(v.min()) - 1.0, float(v.max())
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if np.maximum(v - mid, 0).sum() > 1:
            lo = mid
        else:
            hi = mid
    return np.maximum(v - (lo + hi) / 2, 0)


def nearest_density_reference(a: np.ndarray) -> np.ndarray:
    h = (a + a.conj().T) / 2
    lam, u = np.linalg.eigh(h)
    mu = simplex_by_bisection(lam)
    return (u * mu) @ u.conj().T


def entropy_reference(rho: np.ndarray) -> float:
    lam = np.linalg.eigvalsh(rho)
    return -sum(float(x) * math.log(float(x)) for x in lam if x > 1e-300)


def phase_reference(psi: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, float]:
    ip = complex(np.vdot(ref, psi))
    theta = math.atan2(ip.imag, ip.real) if ip != 0 else 0.0
    fid = abs(ip) ** 2 / (np.vdot(ref, ref).real * np.vdot(psi, psi).real)
    return psi * np.exp(-1j * theta), fid


def syndrome_reference(h: np.ndarray, word: np.ndarray) -> np.ndarray:
    return np.array([sum(int(h[c, j]) * int(word[j]) for j in range(h.shape[1])) % 2
                     for c in range(h.shape[0])], dtype=np.uint8)  # fmt: skip


def elu1(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))


def infini_reference(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mem: np.ndarray, z: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One segment per (batch, head) with explicit loops; causal local attention."""
    b_n, h_n, s_n, d_k = q.shape
    out = np.zeros((*q.shape[:3], v.shape[-1]))
    mem_new, z_new = mem.astype(np.float64).copy(), z.astype(np.float64).copy()
    for b in range(b_n):
        for h in range(h_n):
            m0, z0 = mem[b, h].astype(np.float64), z[b, h].astype(np.float64)
            sq, sk = elu1(q[b, h]), elu1(k[b, h])
            gate = 1 / (1 + math.exp(-float(beta[h])))
            for t in range(s_n):
                den = float(sq[t] @ z0)
                a_mem = (sq[t] @ m0) / den if den > 0 else np.zeros(v.shape[-1])
                scores = np.array([q[b, h, t] @ k[b, h, j] for j in range(t + 1)]) / math.sqrt(d_k)
                w = np.exp(scores - scores.max())
                a_dot = (w / w.sum()) @ v[b, h, : t + 1]
                out[b, h, t] = gate * a_mem + (1 - gate) * a_dot
            retrieved = np.zeros((s_n, v.shape[-1]))
            for t in range(s_n):
                den = float(sk[t] @ z0)
                retrieved[t] = (sk[t] @ m0) / den if den > 0 else 0.0
            mem_new[b, h] = m0 + sk.T @ (v[b, h] - retrieved)
            z_new[b, h] = z0 + sk.sum(axis=0)
    return out, mem_new, z_new


def random_states(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def random_hermitian(rng: np.random.Generator, batch: int, n: int) -> np.ndarray:
    a = random_states(rng, (batch, n, n))
    return (a + a.conj().swapaxes(-1, -2)) / 2
