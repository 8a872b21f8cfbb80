"""Compressive memory (Infini-attention) against an explicit per-head, per-step loop."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.backend import Backend
from kernels.compressive_memory import (
    MemoryState,
    compressive_attention,
    empty_memory,
    memory_read,
    memory_write,
)
from kernels.errors import NonFiniteError, ShapeError
from tests.kernels.reference import infini_reference


def segment(rng: np.random.Generator, b: int = 2, h: int = 3, s: int = 5, dk: int = 4, dv: int = 6):
    return (
        rng.standard_normal((b, h, s, dk)),
        rng.standard_normal((b, h, s, dk)),
        rng.standard_normal((b, h, s, dv)),
    )


def test_segments_match_the_loop_reference(rng: np.random.Generator, np_bk: Backend) -> None:
    beta = rng.standard_normal(3)
    state = empty_memory(2, 3, 4, 6, np.float64, np_bk)
    ref_mem, ref_z = np.zeros((2, 3, 4, 6)), np.zeros((2, 3, 4))
    for _ in range(3):  # the first segment reads an empty memory, later ones a full one
        q, k, v = segment(rng)
        out, state = compressive_attention(q, k, v, state, beta, backend=np_bk)
        ref_out, ref_mem, ref_z = infini_reference(q, k, v, ref_mem, ref_z, beta)
        np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(state.memory, ref_mem, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(state.norm, ref_z, rtol=1e-10, atol=1e-12)


def test_an_empty_memory_reads_zeros(rng: np.random.Generator, np_bk: Backend) -> None:
    q, _, _ = segment(rng)
    out = memory_read(empty_memory(2, 3, 4, 6, np.float64, np_bk), q, np_bk)
    assert out.shape == (2, 3, 5, 6) and not out.any()


def test_rewriting_a_stored_association_leaves_the_memory_unchanged(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    _, k, v = segment(rng, s=1)  # one key per head: the delta rule retrieves v exactly
    once = memory_write(empty_memory(2, 3, 4, 6, np.float64, np_bk), k, v, np_bk)
    twice = memory_write(once, k, v, np_bk)
    np.testing.assert_allclose(twice.memory, once.memory, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(memory_read(once, k, np_bk), v, rtol=1e-12)


def test_the_gate_selects_memory_or_local_attention(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    q, k, v = segment(rng)
    _, k_old, v_old = segment(rng)
    state = memory_write(empty_memory(2, 3, 4, 6, np.float64, np_bk), k_old, v_old, np_bk)
    mem_only, _ = compressive_attention(q, k, v, state, np.full(3, 60.0), backend=np_bk)
    local_only, _ = compressive_attention(q, k, v, state, np.full(3, -60.0), backend=np_bk)
    np.testing.assert_allclose(mem_only, memory_read(state, q, np_bk), rtol=1e-12)
    fresh, _ = compressive_attention(q, k, v, empty_memory(2, 3, 4, 6, np.float64, np_bk),
                                     np.zeros(3), backend=np_bk)  # fmt: skip
    np.testing.assert_allclose(local_only, 2 * fresh, rtol=1e-10)  # g = 1/2, empty memory


def test_local_attention_is_causal(rng: np.random.Generator, np_bk: Backend) -> None:
    q, k, v = segment(rng)
    state = empty_memory(2, 3, 4, 6, np.float64, np_bk)
    out, _ = compressive_attention(q, k, v, state, np.zeros(3), backend=np_bk)
    k2, v2 = k.copy(), v.copy()
    k2[:, :, 3:] += 5.0
    v2[:, :, 3:] -= 5.0
    out2, _ = compressive_attention(q, k2, v2, state, np.zeros(3), backend=np_bk)
    np.testing.assert_allclose(out2[:, :, :3], out[:, :, :3], rtol=1e-12)
    assert not np.allclose(out2[:, :, 3:], out[:, :, 3:])


def test_mismatched_shapes_and_nan_raise_typed_errors(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    q, k, v = segment(rng)
    state = empty_memory(2, 3, 4, 6, np.float64, np_bk)
    with pytest.raises(ShapeError):
        memory_read(empty_memory(2, 3, 5, 6, np.float64, np_bk), q, np_bk)
    with pytest.raises(ShapeError):
        memory_write(state, k, v[..., :5], np_bk)
    with pytest.raises(ShapeError):
        compressive_attention(q, k, v, state, np.zeros(2), backend=np_bk)
    with pytest.raises(ShapeError):
        memory_read(MemoryState(state.memory, state.norm[..., :3]), q, np_bk)
    q[0, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        memory_read(state, q, np_bk)
