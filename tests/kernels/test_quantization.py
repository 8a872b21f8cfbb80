"""Quantization against a per-group float64 loop reference, and its properties."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.backend import Backend
from kernels.errors import (
    DTypeError,
    EmptyInputError,
    InvalidParameterError,
    NonFiniteError,
    ShapeError,
)
from kernels.packing import pack, unpack
from kernels.quantization import (
    QMAX,
    Granularity,
    Scheme,
    dequantize,
    quantization_stats,
    quantize,
    quantize_pack,
    unpack_tensor,
)
from tests.kernels.reference import quantize_reference

SCHEMES: tuple[Scheme, ...] = ("ternary", "int8", "int4")
GRANULARITIES: tuple[Granularity, ...] = ("tensor", "channel", "group")


def group_len(shape: tuple[int, ...], granularity: Granularity) -> int:
    return {"tensor": int(np.prod(shape)), "channel": shape[-1], "group": 128}[granularity]


def assert_codes_match(codes: np.ndarray, x_ref: np.ndarray, qmax: int, tie_tol: float) -> None:
    """Codes equal clamp(rint(x)) except where x lies within tie_tol of a rounding boundary."""
    expected = np.clip(np.rint(x_ref), -qmax, qmax)
    near_tie = np.abs(np.abs(x_ref - np.floor(x_ref)) - 0.5) < tie_tol * np.maximum(
        1, np.abs(x_ref)
    )
    mismatch = (codes != expected) & ~near_tie
    assert not mismatch.any(), f"{mismatch.sum()} codes differ away from ties"
    assert (np.abs(codes[near_tie] - expected[near_tie]) <= 1).all()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_codes_and_scales_match_the_float64_reference(
    rng: np.random.Generator, np_bk: Backend, scheme: Scheme, granularity: Granularity, dtype: type
) -> None:
    w: np.ndarray = (rng.standard_normal((3, 5, 256)) * rng.uniform(0.1, 10)).astype(dtype)
    q = quantize(w, scheme, granularity, backend=np_bk)
    x_ref, s_ref = quantize_reference(w, scheme, group_len(w.shape, granularity))
    rtol = 1e-12 if dtype == np.float64 else 2e-7
    np.testing.assert_allclose(np.ravel(q.scale), s_ref, rtol=rtol)
    assert q.codes.dtype == np.int8 and q.codes.shape == w.shape
    assert_codes_match(q.codes, x_ref, QMAX[scheme], 1e-9 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_quantized_values_lie_in_range(
    rng: np.random.Generator, np_bk: Backend, scheme: Scheme
) -> None:
    w = rng.standard_t(2, size=(8, 384))  # heavy tails push values into the clamp
    for granularity in GRANULARITIES:
        codes = quantize(w, scheme, granularity, backend=np_bk).codes
        assert codes.min() >= -QMAX[scheme] and codes.max() <= QMAX[scheme]


@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_symmetric_reconstruction_error_is_at_most_half_a_step(
    rng: np.random.Generator, np_bk: Backend, scheme: Scheme
) -> None:
    w = rng.standard_normal((16, 256))
    q = quantize(w, scheme, "group", backend=np_bk)
    step = np.repeat(q.scale, 128, axis=-1)  # [16, 256]
    assert (np.abs(w - dequantize(q, np_bk)) <= step / 2 * (1 + 1e-12)).all()


def test_ternary_effective_weight_is_gamma_times_codes(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    w = rng.standard_normal((4, 64))
    q = quantize(w, "ternary", backend=np_bk)
    assert float(q.scale) == pytest.approx(np.mean(np.abs(w)), rel=1e-12)
    np.testing.assert_array_equal(dequantize(q, np_bk), float(q.scale) * q.codes)


def test_a_group_of_zeros_has_scale_zero_and_codes_zero(np_bk: Backend) -> None:
    w = np.ones((2, 256))
    w[1, :128] = 0.0
    for scheme in SCHEMES:
        q = quantize(w, scheme, "group", backend=np_bk)
        assert q.scale[1, 0] == 0 and not q.codes[1, :128].any()
        assert np.isfinite(dequantize(q, np_bk)).all()


@pytest.mark.parametrize("scheme", ["int4", "ternary"])
def test_stochastic_rounding_picks_a_neighbour_and_is_unbiased(
    rng: np.random.Generator, np_bk: Backend, scheme: Scheme
) -> None:
    w = rng.uniform(-0.9, 0.9, size=(1, 128)) * (7 if scheme == "int4" else 1)
    w[0, 0] = 7.0 if scheme == "int4" else 1.0  # pins the scale: s = 1 (int4) or ≈ mean|w|
    draws = np.stack(
        [quantize(w, scheme, "channel", rounding="stochastic", seed=i, backend=np_bk).codes
         for i in range(400)]
    ).astype(np.float64)  # fmt: skip
    x, _ = quantize_reference(w, scheme, 128)
    inside = np.abs(x) < QMAX[scheme]
    assert np.isin(draws - np.floor(x), [0, 1])[:, inside].all()
    # mean of 400 Bernoulli-offset draws: standard error ≤ 0.5/20 = 0.025; allow 6 sigma
    assert np.abs(draws.mean(axis=0) - x)[inside].max() < 0.15


def test_stochastic_rounding_is_reproducible_from_seed_or_noise(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    w = rng.standard_normal((4, 128)).astype(np.float32)
    a = quantize(w, "int4", rounding="stochastic", seed=7, backend=np_bk).codes
    b = quantize(w, "int4", rounding="stochastic", seed=7, backend=np_bk).codes
    noise = rng.random(w.shape).astype(np.float32)
    c = quantize(w, "int4", rounding="stochastic", noise=noise, backend=np_bk).codes
    q = quantize(w, "int4", backend=np_bk)
    expected = np.clip(np.floor(w / np.repeat(q.scale, 128, -1) + noise), -7, 7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, expected)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_quantize_pack_equals_pack_of_quantize_and_unpacks_back(
    rng: np.random.Generator, np_bk: Backend, scheme: Scheme
) -> None:
    w = rng.standard_normal((3, 256)).astype(np.float32)
    q = quantize(w, scheme, "group", backend=np_bk)
    p = quantize_pack(w, scheme, "group", backend=np_bk)
    np.testing.assert_array_equal(p.data, pack(q.codes, scheme, np_bk))
    np.testing.assert_array_equal(unpack_tensor(p, np_bk).codes, q.codes)
    np.testing.assert_array_equal(dequantize(p, np_bk), dequantize(q, np_bk))
    np.testing.assert_array_equal(unpack(p.data, scheme, 256, np_bk), q.codes)


def test_error_statistics_match_their_definitions(rng: np.random.Generator, np_bk: Backend) -> None:
    w = rng.standard_normal((8, 128))
    w_hat = dequantize(quantize(w, "int4", backend=np_bk), np_bk)
    s = quantization_stats(w, w_hat, np_bk)
    err = w - w_hat
    assert s.mse == pytest.approx(np.mean(err**2), rel=1e-12)
    assert s.max_abs_error == pytest.approx(np.abs(err).max(), rel=1e-12)
    assert s.relative_error == pytest.approx(np.linalg.norm(err) / np.linalg.norm(w), rel=1e-12)
    assert s.sqnr_db == pytest.approx(10 * np.log10(np.sum(w**2) / np.sum(err**2)), rel=1e-12)
    assert quantization_stats(w, w, np_bk).sqnr_db == float("inf")


def test_finer_granularity_never_increases_int8_error_on_outlier_rows(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    w = rng.standard_normal((8, 256))
    w[0] *= 100.0  # one outlier channel
    errs = [
        quantization_stats(w, dequantize(quantize(w, "int8", g, backend=np_bk), np_bk), np_bk).mse
        for g in GRANULARITIES[:2]  # tensor, channel
    ]
    assert errs[1] < errs[0]


def test_nan_input_is_rejected_with_its_position(np_bk: Backend) -> None:
    w = np.zeros((2, 128))
    w[1, 5] = np.nan
    with pytest.raises(NonFiniteError) as info:
        quantize(w, backend=np_bk)
    assert info.value.count == 1 and info.value.first_index == (1, 5)


@pytest.mark.parametrize(
    ("w", "kwargs", "error"),
    [
        (np.zeros((2, 0)), {}, EmptyInputError),
        (np.zeros((2, 100)), {"granularity": "group"}, ShapeError),
        (np.zeros((2, 128), dtype=np.int32), {}, DTypeError),
        (np.zeros((2, 128)), {"scheme": "int3"}, InvalidParameterError),
        (np.zeros((2, 128)), {"granularity": "row"}, InvalidParameterError),
        (np.zeros((2, 128)), {"rounding": "up"}, InvalidParameterError),
        (np.zeros((2, 128)), {"granularity": "group", "group_size": 0}, InvalidParameterError),
        (np.float64(1.0), {}, ShapeError),
    ],
)
def test_invalid_input_raises_a_typed_error(
    np_bk: Backend, w: np.ndarray, kwargs: dict, error: type
) -> None:
    with pytest.raises(error):
        quantize(w, backend=np_bk, **kwargs)


def test_noise_of_the_wrong_shape_is_rejected(np_bk: Backend) -> None:
    with pytest.raises(ShapeError):
        quantize(np.ones((2, 128)), rounding="stochastic", noise=np.zeros(3), backend=np_bk)
