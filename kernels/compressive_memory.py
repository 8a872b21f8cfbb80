"""Compressive memory in the Infini-attention form (Munkhdalai et al., 2024), per head.

Standard forms (MODEL.md §2), with ``σ = ELU + 1`` and per head ``M[d_k, d_v]``, ``z[d_k]``:
- read ``A_mem = σ(Q)M / (σ(Q)z)``;
- delta-rule write ``M += σ(K)ᵀ(V − σ(K)M / (σ(K)z))``, ``z += Σ_s σ(K)``;
- gated mix ``A = g·A_mem + (1 − g)·A_dot`` with ``g = sigmoid(β_h)`` and ``A_dot`` the (causal)
  softmax attention within the segment.
A segment first reads with the memory of the previous segments, then writes itself.

Shapes: ``Q, K [B, H, S, d_k]``, ``V [B, H, S, d_v]``, memory ``[B, H, d_k, d_v]``,
normalizer ``[B, H, d_k]``, ``β [H]``.

Deliberate choices:
- An empty memory (``z = 0``, so ``σ(Q)z = 0``) reads as zeros instead of 0/0; since ``σ > 0``,
  that is the only case with a zero denominator. No ε is added anywhere else.
- Backend-generic (batched matmuls): on CuPy these are cuBLAS calls; there is no custom kernel.

Tolerances (tests): float64 matches a per-head loop reference to 1e-10 (relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kernels.backend import Array, Backend, resolve_backend
from kernels.errors import ShapeError
from kernels.validation import checked_float


@dataclass(frozen=True)
class MemoryState:
    memory: Array  # [B, H, d_k, d_v]
    norm: Array  # [B, H, d_k]


def empty_memory(
    batch: int,
    heads: int,
    d_k: int,
    d_v: int,
    dtype: Any = None,
    backend: Backend | str | None = None,
) -> MemoryState:
    xp = resolve_backend(backend).xp
    dtype = dtype or xp.float32
    return MemoryState(
        xp.zeros((batch, heads, d_k, d_v), dtype=dtype), xp.zeros((batch, heads, d_k), dtype=dtype)
    )


def elu_plus_one(xp: Any, x: Array) -> Array:
    """``ELU(x) + 1``: ``x + 1`` for ``x > 0``, ``e^x`` otherwise (never evaluates e^{large})."""
    return xp.where(x > 0, x + 1, xp.exp(xp.minimum(x, 0)))


def memory_read(state: MemoryState, q: Any, backend: Backend | str | None = None) -> Array:
    """``σ(Q)M / (σ(Q)z)`` → ``[B, H, S, d_v]``."""
    bk = resolve_backend(backend)
    q = checked_float(bk, q, "q", min_ndim=4)
    memory, norm = _checked_state(bk, state, q.shape, "q")
    return _retrieve(bk.xp, elu_plus_one(bk.xp, q), memory, norm)


def memory_write(
    state: MemoryState, k: Any, v: Any, backend: Backend | str | None = None
) -> MemoryState:
    """The delta-rule update of ``M`` and ``z`` by one segment's keys and values."""
    bk = resolve_backend(backend)
    xp = bk.xp
    k = checked_float(bk, k, "k", min_ndim=4)
    v = checked_float(bk, v, "v", min_ndim=4)
    memory, norm = _checked_state(bk, state, k.shape, "k")
    if v.shape != (*k.shape[:3], memory.shape[-1]):
        raise ShapeError("v", v.shape, f"{(*k.shape[:3], memory.shape[-1])}")
    sk = elu_plus_one(xp, k)  # [B, H, S, d_k]
    delta = v - _retrieve(xp, sk, memory, norm)  # [B, H, S, d_v]
    return MemoryState(memory + xp.swapaxes(sk, -1, -2) @ delta, norm + sk.sum(axis=-2))


def local_attention(q: Array, k: Array, v: Array, xp: Any, causal: bool = True) -> Array:
    """``softmax(QKᵀ/√d_k + mask)V`` within the segment → ``[B, H, S, d_v]``."""
    s = q.shape[-2]
    scores = q @ xp.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])  # [B, H, S, S]
    if causal:
        visible = xp.tril(xp.ones((s, s), dtype=bool))
        scores = xp.where(visible, scores, -xp.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = xp.exp(scores)
    return (weights / weights.sum(axis=-1, keepdims=True)) @ v


def compressive_attention(
    q: Any,
    k: Any,
    v: Any,
    state: MemoryState,
    beta: Any,
    causal: bool = True,
    backend: Backend | str | None = None,
) -> tuple[Array, MemoryState]:
    """One Infini-attention segment: read, local attention, gated mix, then write."""
    bk = resolve_backend(backend)
    xp = bk.xp
    q = checked_float(bk, q, "q", min_ndim=4)
    beta = checked_float(bk, beta, "beta")
    if beta.shape != (q.shape[1],):
        raise ShapeError("beta", beta.shape, f"({q.shape[1]},) (one gate per head)")
    a_mem = memory_read(state, q, bk)  # [B, H, S, d_v]
    new_state = memory_write(state, k, v, bk)
    a_dot = local_attention(q, bk.asarray(k), bk.asarray(v), xp, causal)
    gate = _sigmoid(xp, beta)[None, :, None, None]  # [1, H, 1, 1]
    return gate * a_mem + (1 - gate) * a_dot, new_state


def _retrieve(xp: Any, sq: Array, memory: Array, norm: Array) -> Array:
    num = sq @ memory  # [B, H, S, d_v]
    den = sq @ norm[..., None]  # [B, H, S, 1]
    return xp.where(den > 0, num / xp.where(den > 0, den, 1), 0)


def _sigmoid(xp: Any, x: Array) -> Array:
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _checked_state(
    bk: Backend, state: MemoryState, shape: tuple[int, ...], name: str
) -> tuple[Array, Array]:
    memory = checked_float(bk, state.memory, "memory", min_ndim=4)
    norm = checked_float(bk, state.norm, "norm", min_ndim=3)
    if len(shape) != 4 or memory.ndim != 4 or memory.shape[:3] != (*shape[:2], shape[3]):
        raise ShapeError(name, shape, f"[B, H, S, d_k] matching memory {memory.shape}")
    if norm.shape != memory.shape[:3]:
        raise ShapeError("norm", norm.shape, f"{memory.shape[:3]} (memory's [B, H, d_k])")
    return memory, norm
