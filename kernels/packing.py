"""Bit packing of quantization codes along the last axis.

Layout (little-endian within a byte, element ``p`` of a byte in bits ``[p·b, (p+1)·b)``):
- ``ternary``: 4 codes per byte, 2 bits each, stored as ``t + 1`` ∈ {0, 1, 2}; 3 is invalid.
- ``int4``: 2 codes per byte, two's complement nibbles in [−8, 7] (quantizers emit [−7, 7]).
- ``int8``: 1 code per byte (two's complement); packing is a reinterpretation.
Each row (last axis) is padded with the code for 0 up to whole bytes, so rows stay independent
and ``unpack`` needs the original row length. ``unpack(pack(x)) == x`` exactly.
"""

from __future__ import annotations

from typing import Any, Literal

from kernels.backend import Array, Backend, resolve_backend
from kernels.errors import DTypeError, InvalidParameterError, OutOfRangeError, ShapeError
from kernels.validation import require_kind, require_ndim

Scheme = Literal["ternary", "int4", "int8"]
BITS: dict[str, int] = {"ternary": 2, "int4": 4, "int8": 8}
CODE_RANGE: dict[str, tuple[int, int]] = {"ternary": (-1, 1), "int4": (-8, 7), "int8": (-128, 127)}


def codes_per_byte(scheme: str) -> int:
    if scheme not in BITS:
        raise InvalidParameterError("scheme", scheme, "one of " + ", ".join(BITS))
    return 8 // BITS[scheme]


def packed_length(row_len: int, scheme: str) -> int:
    return -(-row_len // codes_per_byte(scheme))


def pack(codes: Any, scheme: Scheme, backend: Backend | str | None = None) -> Array:
    """``uint8[..., ceil(K / per_byte)]`` from integer codes ``[..., K]`` in the scheme's range."""
    bk = resolve_backend(backend)
    xp = bk.xp
    c = bk.asarray(codes)
    per_byte = codes_per_byte(scheme)
    require_kind(c, "codes", "iu", "an integer dtype")
    require_ndim(c, "codes", 1)
    _require_range(c, scheme)
    c8 = xp.ascontiguousarray(c.astype(xp.int8, copy=False))  # range checked: exact
    if scheme == "int8":
        return c8.view(xp.uint8)
    k = c.shape[-1]
    pad = packed_length(k, scheme) * per_byte - k
    # ternary stores t + 1; int4 the low nibble of the two's complement. Pad with the code of 0.
    u = (c8 + 1).view(xp.uint8) if scheme == "ternary" else c8.view(xp.uint8) & 0xF
    if pad:
        fill = 1 if scheme == "ternary" else 0
        u = xp.concatenate([u, xp.full((*c.shape[:-1], pad), fill, dtype=xp.uint8)], axis=-1)
    bits = BITS[scheme]
    out = xp.ascontiguousarray(u[..., 0::per_byte])  # [..., bytes]: strided slices, no reduction
    for p in range(1, per_byte):
        out |= u[..., p::per_byte] << (p * bits)
    return out


def unpack(
    packed: Any, scheme: Scheme, row_len: int, backend: Backend | str | None = None
) -> Array:
    """``int8[..., row_len]`` codes from the packed bytes; inverse of :func:`pack`."""
    bk = resolve_backend(backend)
    xp = bk.xp
    data = bk.asarray(packed)
    per_byte = codes_per_byte(scheme)
    if data.dtype != xp.uint8:
        raise DTypeError("packed", data.dtype, "uint8")
    require_ndim(data, "packed", 1)
    if data.shape[-1] != packed_length(row_len, scheme):
        expected = f"last axis {packed_length(row_len, scheme)} for row length {row_len}"
        raise ShapeError("packed", data.shape, expected)
    if scheme == "int8":
        return data.view(xp.int8)
    out = xp.empty((*data.shape[:-1], data.shape[-1] * per_byte), dtype=xp.int8)
    if scheme == "int4":
        signed = data.view(xp.int8)
        out[..., 0::2] = (signed << 4) >> 4  # arithmetic shifts sign-extend each nibble
        out[..., 1::2] = signed >> 4
    else:
        if bool((data & (data >> 1) & 0x55).any()):  # some 2-bit field is 0b11
            raise OutOfRangeError("packed ternary codes", 0, 2, (0, 3))
        for p in range(4):
            out[..., p::4] = ((data >> (2 * p)) & 3).view(xp.int8) - 1
    return out if out.shape[-1] == row_len else xp.ascontiguousarray(out[..., :row_len])


def _require_range(c: Array, scheme: str) -> None:
    if c.size == 0:
        return
    low, high = CODE_RANGE[scheme]
    found = (int(c.min()), int(c.max()))
    if found[0] < low or found[1] > high:
        raise OutOfRangeError(f"{scheme} codes", low, high, found)
