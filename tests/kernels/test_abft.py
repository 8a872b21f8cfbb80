"""Checksummed matmul: no false alarms; any single corrupted element detected, located, fixed."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.abft import checked_matmul
from kernels.backend import Backend
from kernels.errors import NonFiniteError, ShapeError, UncorrectableError


def corrupt(i: int, j: int, value: float | None = None, delta: float = 0.0):
    def fault(full: np.ndarray) -> None:
        full[i, j] = full[i, j] + delta if value is None else value

    return fault


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_clean_product_is_exact_and_raises_no_alarm(
    rng: np.random.Generator, np_bk: Backend, dtype: type
) -> None:
    for _ in range(20):
        m, k, n = rng.integers(1, 40, size=3)
        a: np.ndarray = (rng.standard_normal((m, k)) * 10 ** rng.uniform(-3, 3)).astype(dtype)
        b: np.ndarray = rng.standard_normal((k, n)).astype(dtype)
        r = checked_matmul(a, b, backend=np_bk)
        assert not r.report.detected
        exact = a.astype(np.float64) @ b.astype(np.float64)
        bound = np.abs(a).astype(np.float64) @ np.abs(b) * k * np.finfo(dtype).eps
        assert (np.abs(r.product - exact) <= bound + np.finfo(dtype).tiny).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_single_corrupted_element_is_located_and_corrected(
    rng: np.random.Generator, np_bk: Backend, dtype: type
) -> None:
    m, k, n = 5, 12, 4
    a: np.ndarray = rng.standard_normal((m, k)).astype(dtype)
    b: np.ndarray = rng.standard_normal((k, n)).astype(dtype)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for i in range(m + 1):  # row m and column n are the checksums
        for j in range(n + 1):
            delta = float(rng.choice([-1, 1]) * 10 ** rng.uniform(-2, 3))
            r = checked_matmul(a, b, corrupt(i, j, delta=delta), np_bk)
            assert (r.report.row, r.report.col) == (i, j)
            assert r.report.in_checksum == (i == m or j == n)
            assert r.report.delta == pytest.approx(delta, rel=1e-3, abs=tol * 10)
            np.testing.assert_allclose(r.product, exact, atol=tol * 10, rtol=tol)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e300])
def test_non_finite_or_huge_corruption_is_recomputed_from_the_checksum(
    rng: np.random.Generator, np_bk: Backend, value: float
) -> None:
    a, b = rng.standard_normal((6, 8)), rng.standard_normal((8, 5))
    r = checked_matmul(a, b, corrupt(2, 3, value=value), np_bk)
    assert (r.report.row, r.report.col) == (2, 3)
    np.testing.assert_allclose(r.product, a @ b, atol=1e-12)


def test_corruption_of_a_bit_in_the_exponent_is_caught(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    a, b = rng.standard_normal((16, 16)), rng.standard_normal((16, 16))

    def flip(full: np.ndarray) -> None:
        bits = full.view(np.uint64)
        bits[7, 9] ^= np.uint64(1) << np.uint64(int(rng.integers(52, 63)))

    r = checked_matmul(a, b, flip, np_bk)
    assert (r.report.row, r.report.col) == (7, 9)
    np.testing.assert_allclose(r.product, a @ b, atol=1e-12)


def test_two_corruptions_in_different_rows_are_uncorrectable(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    a, b = rng.standard_normal((6, 8)), rng.standard_normal((8, 5))

    def twice(full: np.ndarray) -> None:
        full[0, 0] += 1.0
        full[3, 2] += 1.0

    with pytest.raises(UncorrectableError) as info:
        checked_matmul(a, b, twice, np_bk)
    assert info.value.rows == (0, 3) and info.value.cols == (0, 2)


def test_invalid_operands_raise_typed_errors(np_bk: Backend) -> None:
    with pytest.raises(ShapeError):
        checked_matmul(np.ones((2, 3)), np.ones((4, 2)), backend=np_bk)
    with pytest.raises(ShapeError):
        checked_matmul(np.ones((2, 3, 3)), np.ones((3, 2)), backend=np_bk)
    with pytest.raises(NonFiniteError):
        checked_matmul(np.array([[np.nan]]), np.ones((1, 1)), backend=np_bk)
