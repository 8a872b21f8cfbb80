"""Density matrices against float64 references (eigh + simplex by bisection), and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernels.backend import Backend
from kernels.density import (
    density_from_state,
    l1_coherence,
    nearest_density_matrix,
    project_to_simplex,
    purity,
    von_neumann_entropy,
)
from kernels.errors import (
    EmptyInputError,
    NonFiniteError,
    NotHermitianError,
    ShapeError,
    ZeroNormError,
)
from tests.kernels.reference import (
    entropy_reference,
    nearest_density_reference,
    random_hermitian,
    random_states,
    simplex_by_bisection,
)


def random_density(rng: np.random.Generator, batch: int, n: int, rank: int) -> np.ndarray:
    g = random_states(rng, (batch, n, rank))
    rho = g @ g.conj().swapaxes(-1, -2)
    return rho / np.trace(rho, axis1=-2, axis2=-1)[:, None, None].real


def test_density_of_a_state_is_a_normalized_pure_projector(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    psi = random_states(rng, (4, 6)) * 3.0
    rho = density_from_state(psi, np_bk)
    for b in range(4):
        unit = psi[b] / np.linalg.norm(psi[b])
        np.testing.assert_allclose(rho[b], np.outer(unit, unit.conj()), atol=1e-14)
    np.testing.assert_allclose(purity(rho, backend=np_bk), 1.0, atol=1e-13)
    np.testing.assert_allclose(von_neumann_entropy(rho, backend=np_bk), 0.0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_projection_matches_the_float64_reference(
    rng: np.random.Generator, np_bk: Backend, n: int
) -> None:
    a = random_hermitian(rng, 8, n)
    rho = nearest_density_matrix(a, backend=np_bk)
    for b in range(8):
        np.testing.assert_allclose(rho[b], nearest_density_reference(a[b]), atol=1e-10)


def test_projected_matrices_are_psd_with_unit_trace_and_projection_is_idempotent(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    a = random_hermitian(rng, 16, 7) * 2.0
    rho = nearest_density_matrix(a, backend=np_bk)
    np.testing.assert_allclose(rho, rho.conj().swapaxes(-1, -2), atol=1e-14)
    assert np.linalg.eigvalsh(rho).min() >= -1e-12
    np.testing.assert_allclose(np.trace(rho, axis1=-2, axis2=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(nearest_density_matrix(rho, backend=np_bk), rho, atol=1e-10)


def test_projection_is_nearer_than_any_other_density_matrix(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    a = random_hermitian(rng, 1, 5)[0]
    best = np.linalg.norm(a - nearest_density_matrix(a, backend=np_bk))
    others = random_density(rng, 200, 5, rank=int(rng.integers(1, 6)))
    assert (np.linalg.norm(a - others, axis=(-2, -1)) >= best - 1e-12).all()


def test_a_density_matrix_is_its_own_projection(rng: np.random.Generator, np_bk: Backend) -> None:
    rho = random_density(rng, 6, 4, rank=2)
    np.testing.assert_allclose(nearest_density_matrix(rho, backend=np_bk), rho, atol=1e-12)


def test_single_precision_projection_within_documented_tolerance(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    a = random_hermitian(rng, 8, 6)
    rho32 = nearest_density_matrix(a.astype(np.complex64), backend=np_bk)
    assert rho32.dtype == np.complex64
    np.testing.assert_allclose(rho32, nearest_density_matrix(a, backend=np_bk), atol=1e-5)


def test_simplex_projection_matches_bisection(rng: np.random.Generator, np_bk: Backend) -> None:
    v = rng.standard_normal((20, 9)) * 2
    mu = project_to_simplex(v, np_bk)
    for b in range(20):
        np.testing.assert_allclose(mu[b], simplex_by_bisection(v[b]), atol=1e-12)
    assert (mu >= 0).all()
    np.testing.assert_allclose(mu.sum(axis=-1), 1.0, atol=1e-12)


def test_diagnostics_match_their_definitions(rng: np.random.Generator, np_bk: Backend) -> None:
    rho = random_density(rng, 5, 6, rank=3)
    for b in range(5):
        assert purity(rho, backend=np_bk)[b] == pytest.approx(np.trace(rho[b] @ rho[b]).real)
        assert von_neumann_entropy(rho, backend=np_bk)[b] == pytest.approx(
            entropy_reference(rho[b]), abs=1e-12
        )
        off = np.abs(rho[b]).sum() - np.abs(np.diag(rho[b])).sum()
        assert l1_coherence(rho, backend=np_bk)[b] == pytest.approx(off, rel=1e-12)


def test_maximally_mixed_state_has_extreme_diagnostics(np_bk: Backend) -> None:
    rho = np.eye(8) / 8
    assert float(purity(rho, backend=np_bk)) == pytest.approx(1 / 8)
    assert float(von_neumann_entropy(rho, backend=np_bk)) == pytest.approx(math.log(8))
    assert float(l1_coherence(rho, backend=np_bk)) == 0.0


def test_non_hermitian_input_is_rejected_with_its_deviation(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    a = random_hermitian(rng, 2, 4)
    a[1, 0, 1] += 0.5
    with pytest.raises(NotHermitianError) as info:
        nearest_density_matrix(a, backend=np_bk)
    assert info.value.deviation > info.value.tolerance
    for diagnostic in (purity, von_neumann_entropy, l1_coherence):
        with pytest.raises(NotHermitianError):
            diagnostic(a, backend=np_bk)


def test_rounding_level_asymmetry_is_accepted(rng: np.random.Generator, np_bk: Backend) -> None:
    a = random_hermitian(rng, 2, 4)
    a[0, 0, 1] += 1e-12
    assert np.isfinite(nearest_density_matrix(a, backend=np_bk)).all()


@pytest.mark.parametrize(
    ("a", "error"),
    [
        (np.zeros((3, 4)), ShapeError),
        (np.zeros(4), ShapeError),
        (np.zeros((0, 3, 3)), EmptyInputError),
        (np.array([[np.nan, 0], [0, 1]]), NonFiniteError),
        (np.array([[np.inf, 0], [0, 1]]), NonFiniteError),
    ],
)
def test_invalid_matrices_raise_typed_errors(np_bk: Backend, a: np.ndarray, error: type) -> None:
    with pytest.raises(error):
        nearest_density_matrix(a, backend=np_bk)


def test_zero_state_has_no_density_matrix(np_bk: Backend) -> None:
    with pytest.raises(ZeroNormError):
        density_from_state(np.zeros((2, 3), dtype=complex), np_bk)
