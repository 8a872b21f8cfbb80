"""Parity-check codes: syndromes against a loop reference; every correctable error corrected."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kernels.backend import Backend
from kernels.codes import ParityCheckCode, repetition_code, surface_code_d3
from kernels.error_correction import (
    build_lookup_decoder,
    decode,
    decode_css,
    majority_decode,
    syndrome,
)
from kernels.errors import (
    DTypeError,
    EmptyInputError,
    InvalidParameterError,
    OutOfRangeError,
    ShapeError,
)
from tests.kernels.reference import syndrome_reference

HAMMING_7_4 = np.array(
    [[1, 0, 1, 0, 1, 0, 1], [0, 1, 1, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1, 1]], dtype=np.uint8
)


def errors_up_to_weight(n: int, weight: int) -> np.ndarray:
    rows = []
    for w in range(weight + 1):
        for cols in itertools.combinations(range(n), w):
            e = np.zeros(n, dtype=np.uint8)
            e[list(cols)] = 1
            rows.append(e)
    return np.stack(rows)


def test_syndromes_match_the_loop_reference_on_a_random_code(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    code = ParityCheckCode.from_matrix(rng.integers(0, 2, size=(6, 20)))
    words = rng.integers(0, 2, size=(3, 50, 20))
    s, index = syndrome(code, words, np_bk)
    assert s.shape == (3, 50, 6) and index.shape == (3, 50)
    for b, t in itertools.product(range(3), range(50)):
        ref = syndrome_reference(code.checks, words[b, t])
        np.testing.assert_array_equal(s[b, t], ref)
        assert index[b, t] == sum(int(bit) << c for c, bit in enumerate(ref))


@pytest.mark.parametrize("n", [3, 5, 7, 9])
def test_repetition_code_corrects_every_error_of_weight_below_half(
    rng: np.random.Generator, np_bk: Backend, n: int
) -> None:
    decoder = build_lookup_decoder(repetition_code(n))
    errors = errors_up_to_weight(n, (n - 1) // 2)
    message = rng.integers(0, 2, size=len(errors)).astype(np.uint8)
    received = message[:, None] ^ errors  # codeword = the bit repeated n times
    d = decode(decoder, received, np_bk)
    np.testing.assert_array_equal(d.corrected, np.repeat(message[:, None], n, axis=1))
    np.testing.assert_array_equal(majority_decode(received, np_bk), message)
    assert d.decodable.all()


def test_lookup_and_majority_agree_on_random_repetition_words(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    words = rng.integers(0, 2, size=(500, 7)).astype(np.uint8)
    d = decode(build_lookup_decoder(repetition_code(7)), words, np_bk)
    assert (d.corrected == d.corrected[:, :1]).all()  # always a codeword
    np.testing.assert_array_equal(d.corrected[:, 0], majority_decode(words, np_bk))


def test_surface_code_checks_commute_and_logicals_are_valid() -> None:
    code = surface_code_d3()
    hx, hz = code.x_checks.checks.astype(int), code.z_checks.checks.astype(int)
    assert not ((hx @ hz.T) % 2).any()
    assert not ((hz @ code.logical_x) % 2).any() and not ((hx @ code.logical_z) % 2).any()
    assert int(code.logical_x @ code.logical_z) % 2 == 1
    assert np.linalg.matrix_rank(np.vstack([hx, hz])) == 8  # 9 qubits, 1 logical


@pytest.mark.parametrize("pauli", ["X", "Y", "Z"])
def test_distance_3_surface_code_corrects_every_single_qubit_error(
    np_bk: Backend, pauli: str
) -> None:
    code = surface_code_d3()
    eye = np.eye(9, dtype=np.uint8)
    zero = np.zeros((9, 9), dtype=np.uint8)
    ex = eye if pauli in "XY" else zero
    ez = eye if pauli in "ZY" else zero
    dx, dz = decode_css(code, ex, ez, np_bk)
    rx, rz = ex ^ dx.correction, ez ^ dz.correction  # residual after correction, [9, 9]
    # corrected up to a stabilizer: no syndrome left and no logical flipped
    assert not syndrome(code.z_checks, rx, np_bk)[0].any()
    assert not syndrome(code.x_checks, rz, np_bk)[0].any()
    assert not ((rx.astype(int) @ code.logical_z) % 2).any()
    assert not ((rz.astype(int) @ code.logical_x) % 2).any()


def test_code_given_by_its_check_matrix_corrects_every_single_bit_error(np_bk: Backend) -> None:
    decoder = build_lookup_decoder(ParityCheckCode.from_matrix(HAMMING_7_4, "hamming-7-4"))
    codeword = np.array([1, 1, 1, 0, 0, 0, 0], dtype=np.uint8)
    assert not syndrome(decoder.code, codeword, np_bk)[0].any()
    received = codeword ^ np.eye(7, dtype=np.uint8)
    d = decode(decoder, received, np_bk)
    np.testing.assert_array_equal(d.corrected, np.tile(codeword, (7, 1)))
    np.testing.assert_array_equal(d.correction, np.eye(7, dtype=np.uint8))


def test_syndromes_beyond_the_enumerated_weight_are_reported_undecodable(np_bk: Backend) -> None:
    decoder = build_lookup_decoder(repetition_code(7), max_weight=1)
    d = decode(decoder, np.array([[1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0]]), np_bk)
    assert d.decodable.tolist() == [False, True]
    np.testing.assert_array_equal(d.corrected[0], [1, 1, 0, 0, 0, 0, 0])  # left as received


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (np.array([[0, 2, 0]]), OutOfRangeError),
        (np.array([[0, 1]]), ShapeError),
        (np.zeros((0, 3), dtype=np.uint8), EmptyInputError),
        (np.array([[0.0, 1.0, 0.0]]), DTypeError),
    ],
)
def test_invalid_words_raise_typed_errors(np_bk: Backend, words: np.ndarray, error: type) -> None:
    with pytest.raises(error):
        syndrome(repetition_code(3), words, np_bk)


def test_invalid_codes_raise_typed_errors() -> None:
    with pytest.raises(InvalidParameterError):
        ParityCheckCode.from_matrix([[0, 2, 1]])
    with pytest.raises(ShapeError):
        ParityCheckCode.from_matrix([1, 0, 1])
    with pytest.raises(InvalidParameterError):
        repetition_code(1)
    with pytest.raises(InvalidParameterError):
        build_lookup_decoder(ParityCheckCode.from_matrix(np.ones((30, 31), dtype=np.uint8)))
