"""Phase alignment and fidelity against a per-state float64 reference, and their properties."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.backend import Backend
from kernels.errors import EmptyInputError, NonFiniteError, ShapeError, ZeroNormError
from kernels.phase import align_phase, fidelity
from tests.kernels.reference import phase_reference, random_states


@pytest.mark.parametrize("shared_reference", [True, False])
def test_alignment_and_fidelity_match_the_reference(
    rng: np.random.Generator, np_bk: Backend, shared_reference: bool
) -> None:
    psi = random_states(rng, (3, 4, 10))
    ref = random_states(rng, (10,) if shared_reference else (3, 4, 10))
    out = align_phase(psi, ref, np_bk)
    for b in range(3):
        for t in range(4):
            r = ref if shared_reference else ref[b, t]
            aligned, fid = phase_reference(psi[b, t], r)
            np.testing.assert_allclose(out.aligned[b, t], aligned, rtol=1e-12, atol=1e-13)
            assert out.fidelity[b, t] == pytest.approx(fid, rel=1e-12)
    np.testing.assert_allclose(fidelity(psi, ref, np_bk), out.fidelity, rtol=1e-14)


def test_after_alignment_the_overlap_is_real_and_non_negative(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    psi, ref = random_states(rng, (50, 8)), random_states(rng, (8,))
    overlap = align_phase(psi, ref, np_bk).aligned @ ref.conj()
    assert np.abs(overlap.imag).max() < 1e-12 * np.abs(overlap).max()
    assert (overlap.real > 0).all()


def test_alignment_only_changes_the_global_phase(rng: np.random.Generator, np_bk: Backend) -> None:
    psi, ref = random_states(rng, (20, 6)), random_states(rng, (6,))
    out = align_phase(psi, ref, np_bk)
    ratio = out.aligned / psi
    np.testing.assert_allclose(np.abs(ratio), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ratio, np.repeat(ratio[:, :1], 6, axis=1), rtol=1e-12)
    np.testing.assert_allclose(fidelity(out.aligned, ref, np_bk), out.fidelity, rtol=1e-12)


def test_fidelity_is_one_for_a_phase_rotated_copy_and_zero_for_orthogonal_states(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    ref = random_states(rng, (5,))
    rotated = ref * np.exp(1j * rng.uniform(0, 2 * np.pi)) * 2.5
    out = align_phase(rotated, ref, np_bk)
    assert float(out.fidelity) == pytest.approx(1.0, rel=1e-13)
    np.testing.assert_allclose(out.aligned, 2.5 * ref, rtol=1e-12)
    orth = align_phase(np.array([0, 1j]), np.array([1, 0]), np_bk)
    assert float(orth.fidelity) == 0.0
    np.testing.assert_array_equal(orth.aligned, [0, 1j])  # phase undefined: unchanged


def test_single_precision_within_documented_tolerance(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    psi, ref = random_states(rng, (16, 32)), random_states(rng, (32,))
    out64 = align_phase(psi, ref, np_bk)
    out32 = align_phase(psi.astype(np.complex64), ref.astype(np.complex64), np_bk)
    assert out32.aligned.dtype == np.complex64
    np.testing.assert_allclose(out32.aligned, out64.aligned, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out32.fidelity, out64.fidelity, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("psi", "ref", "error"),
    [
        (np.zeros((2, 3), dtype=complex), np.ones(3), ZeroNormError),
        (np.ones((2, 3)), np.zeros(3), ZeroNormError),
        (np.ones((2, 3)), np.ones(4), ShapeError),
        (np.ones((2, 3)), np.ones((3, 3)), ShapeError),
        (np.ones((2, 0)), np.ones(0), EmptyInputError),
        (np.array([1, np.nan]), np.ones(2), NonFiniteError),
    ],
)
def test_invalid_states_raise_typed_errors(
    np_bk: Backend, psi: np.ndarray, ref: np.ndarray, error: type
) -> None:
    with pytest.raises(error):
        align_phase(psi, ref, np_bk)
