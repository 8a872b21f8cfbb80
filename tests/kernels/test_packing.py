"""Bit packing: exact round trips, the documented byte layout, and range checks."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.backend import Backend
from kernels.errors import DTypeError, OutOfRangeError, ShapeError
from kernels.packing import CODE_RANGE, Scheme, pack, packed_length, unpack


@pytest.mark.parametrize("scheme", ["ternary", "int4", "int8"])
@pytest.mark.parametrize("row_len", [1, 2, 3, 4, 5, 7, 128, 131])
def test_unpack_of_pack_is_the_identity(
    rng: np.random.Generator, np_bk: Backend, scheme: Scheme, row_len: int
) -> None:
    low, high = CODE_RANGE[scheme]
    codes = rng.integers(low, high + 1, size=(2, 3, row_len)).astype(np.int8)
    packed = pack(codes, scheme, np_bk)
    assert packed.dtype == np.uint8
    assert packed.shape == (2, 3, packed_length(row_len, scheme))
    np.testing.assert_array_equal(unpack(packed, scheme, row_len, np_bk), codes)


def test_ternary_packs_four_codes_per_byte_low_bits_first(np_bk: Backend) -> None:
    packed = pack(np.array([-1, 0, 1, 1, 0], dtype=np.int8), "ternary", np_bk)
    # codes t+1 = 0,1,2,2 -> 0b10_10_01_00; the fifth code 1 padded with 0s (code 1 each)
    assert packed.tolist() == [0b10100100, 0b01010101]


def test_int4_packs_two_nibbles_per_byte_low_nibble_first(np_bk: Backend) -> None:
    packed = pack(np.array([-1, 7, -8], dtype=np.int8), "int4", np_bk)
    assert packed.tolist() == [0x7F, 0x08]


@pytest.mark.parametrize(("scheme", "bad"), [("ternary", 2), ("int4", 8), ("int4", -9)])
def test_codes_outside_the_format_are_rejected(np_bk: Backend, scheme: Scheme, bad: int) -> None:
    with pytest.raises(OutOfRangeError) as info:
        pack(np.array([0, bad]), scheme, np_bk)
    assert bad in info.value.found


def test_packed_ternary_byte_with_the_invalid_code_is_rejected(np_bk: Backend) -> None:
    with pytest.raises(OutOfRangeError):
        unpack(np.array([0b11], dtype=np.uint8), "ternary", 1, np_bk)


def test_unpack_checks_length_and_dtype(np_bk: Backend) -> None:
    with pytest.raises(ShapeError):
        unpack(np.zeros(3, dtype=np.uint8), "int4", 8, np_bk)
    with pytest.raises(DTypeError):
        unpack(np.zeros(4, dtype=np.int32), "int4", 8, np_bk)
    with pytest.raises(DTypeError):
        pack(np.zeros(4), "int4", np_bk)
