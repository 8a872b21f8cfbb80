"""Syndromes and decoding of binary parity-check codes (lookup and majority decoders).

Standard forms (MODEL.md §2): ``s = He mod 2``; a lookup table maps each syndrome to a
minimum-weight error with that syndrome (built once per code by enumerating errors in order of
weight); the repetition code can also be decoded by majority vote. CSS codes (the surface code)
decode their X and Z parts independently with the Z and X checks.

Deliberate choices:
- Words are 0/1 integers (``uint8``/``bool``/any int), one bit per element, batch axes in front;
  values other than 0/1 are :class:`OutOfRangeError`, not silently reduced mod 2.
- The syndrome index packs check ``c`` into bit ``c`` of an ``int64``; lookup decoding therefore
  needs ``m ≤ 24`` (a table of ``2^m`` rows). A syndrome no enumerated error produces is reported
  as not decodable (``Decoded.decodable``) and left uncorrected.
- On NumPy the syndrome is an XOR of bit-position rows of the transposed words (one contiguous
  pass per nonzero of ``H``); on CuPy one custom kernel computes syndromes and indices with ``H``
  and the words in shared memory (the XOR path is its fallback for codes too large to stage).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels.backend import Array, Backend, resolve_backend
from kernels.codes import CSSCode, ParityCheckCode
from kernels.errors import InvalidParameterError, OutOfRangeError, ShapeError
from kernels.validation import require_kind, require_ndim, require_nonempty

MAX_TABLE_CHECKS = 24
ENUMERATION_BUDGET = 1 << 22  # error patterns tried while building a table


@dataclass(frozen=True)
class LookupDecoder:
    """Minimum-weight correction per syndrome index (host arrays; tiny for small codes)."""

    code: ParityCheckCode
    corrections: np.ndarray  # uint8[2^m, n]
    known: np.ndarray  # bool[2^m]: some enumerated error has this syndrome
    max_weight: int


@dataclass(frozen=True)
class Decoded:
    corrected: Array  # uint8[..., n]
    correction: Array  # uint8[..., n]
    syndrome: Array  # uint8[..., m]
    decodable: Array  # bool[...]


def syndrome(
    code: ParityCheckCode, words: Any, backend: Backend | str | None = None
) -> tuple[Array, Array]:
    """``(s[..., m], index[...])`` with ``s = H·word mod 2`` and ``index = Σ_c s_c·2^c``."""
    bk = resolve_backend(backend)
    xp = bk.xp
    w = _checked_words(bk, words, code.n)
    flat = xp.ascontiguousarray(w.reshape(-1, code.n))  # [B, n]
    threads = _gpu_block_size(bk, code)
    if threads:
        from kernels.cuda import syndrome as cuda_syndrome

        h = bk.asarray(code.checks)
        s, index = cuda_syndrome.syndromes(h, flat, threads)
    else:
        s, index = _syndromes_by_xor(xp, code, flat)
    return s.reshape(*w.shape[:-1], code.m), index.reshape(w.shape[:-1])


def _syndromes_by_xor(xp: Any, code: ParityCheckCode, flat: Array) -> tuple[Array, Array]:
    """Bit-position-major words, then each check is the XOR of its support's rows: contiguous,
    single-threaded passes (a float BLAS product with inner size n was slower and erratic)."""
    by_bit = xp.ascontiguousarray(flat.T)  # [n, B]
    s_t = xp.zeros((code.m, flat.shape[0]), dtype=xp.uint8)  # [m, B]
    index = xp.zeros(flat.shape[0], dtype=xp.int64)
    for c, row in enumerate(code.checks):
        for j in np.flatnonzero(row):
            s_t[c] ^= by_bit[int(j)]
        index |= s_t[c].astype(xp.int64) << c
    return xp.ascontiguousarray(s_t.T), index


def build_lookup_decoder(code: ParityCheckCode, max_weight: int | None = None) -> LookupDecoder:
    """Fill the table with errors of weight 0, 1, 2, … until every syndrome has a minimum-weight
    error, ``max_weight`` is reached, or the enumeration budget is spent."""
    if code.m > MAX_TABLE_CHECKS:
        raise InvalidParameterError("code.m", code.m, f"at most {MAX_TABLE_CHECKS} checks")
    limit = code.n if max_weight is None else max_weight
    if limit < 0:
        raise InvalidParameterError("max_weight", max_weight, "non-negative")
    size = 1 << code.m
    corrections = np.zeros((size, code.n), dtype=np.uint8)
    known = np.zeros(size, dtype=bool)
    powers = 1 << np.arange(code.m, dtype=np.int64)
    h_t = code.checks.T.astype(np.int64)  # [n, m]
    tried, weight = 0, 0
    while weight <= limit and not known.all() and tried < ENUMERATION_BUDGET:
        patterns = _patterns_of_weight(code.n, weight, ENUMERATION_BUDGET - tried)
        tried += len(patterns)
        index = ((patterns.astype(np.int64) @ h_t) & 1) @ powers  # [P]
        fresh, first = np.unique(index, return_index=True)
        new = ~known[fresh]
        corrections[fresh[new]] = patterns[first[new]]
        known[fresh[new]] = True
        weight += 1
    return LookupDecoder(code, corrections, known, weight - 1)


def decode(decoder: LookupDecoder, received: Any, backend: Backend | str | None = None) -> Decoded:
    """Correct each word by the table entry of its syndrome."""
    bk = resolve_backend(backend)
    xp = bk.xp
    r = _checked_words(bk, received, decoder.code.n).astype(xp.uint8)
    s, index = syndrome(decoder.code, r, bk)
    correction = bk.asarray(decoder.corrections)[index]  # [..., n]
    return Decoded(r ^ correction, correction, s, bk.asarray(decoder.known)[index])


def majority_decode(received: Any, backend: Backend | str | None = None) -> Array:
    """The repetition code's message bit ``[...]`` by majority over the last axis (ties → 0)."""
    bk = resolve_backend(backend)
    r = _checked_words(bk, received, None)
    votes = r.astype(bk.xp.int64).sum(axis=-1)
    return (2 * votes > r.shape[-1]).astype(bk.xp.uint8)


def decode_css(
    code: CSSCode,
    x_errors: Any,
    z_errors: Any,
    backend: Backend | str | None = None,
) -> tuple[Decoded, Decoded]:
    """Decode the X part with the Z checks and the Z part with the X checks."""
    x_dec = cached_decoder(code.z_checks)
    z_dec = cached_decoder(code.x_checks)
    return decode(x_dec, x_errors, backend), decode(z_dec, z_errors, backend)


def cached_decoder(code: ParityCheckCode) -> LookupDecoder:
    """The full-search lookup decoder of ``code``, built once per distinct check matrix."""
    return _decoder_for(code.name, code.checks.tobytes(), code.checks.shape)


@functools.lru_cache(maxsize=64)
def _decoder_for(name: str, checks: bytes, shape: tuple[int, int]) -> LookupDecoder:
    h = np.frombuffer(checks, dtype=np.uint8).reshape(shape)
    return build_lookup_decoder(ParityCheckCode(name, h))


def _patterns_of_weight(n: int, weight: int, budget: int) -> np.ndarray:
    count = min(math.comb(n, weight), budget)
    patterns = np.zeros((count, n), dtype=np.uint8)
    for row, cols in enumerate(itertools.islice(itertools.combinations(range(n), weight), count)):
        patterns[row, list(cols)] = 1
    return patterns


def _checked_words(bk: Backend, words: Any, n: int | None) -> Array:
    w = bk.asarray(words)
    require_kind(w, "words", "biu", "an integer or bool dtype with 0/1 entries")
    require_ndim(w, "words", 1)
    require_nonempty(w, "words")
    if n is not None and w.shape[-1] != n:
        raise ShapeError("words", w.shape, f"[..., {n}] (the code length)")
    w = w.astype(bk.xp.uint8) if w.dtype.kind == "b" else w
    low, high = int(w.min()), int(w.max())
    if low < 0 or high > 1:
        raise OutOfRangeError("words", 0, 1, (low, high))
    return w.astype(bk.xp.uint8, copy=False)


def _gpu_block_size(bk: Backend, code: ParityCheckCode) -> int:
    if not bk.is_gpu:
        return 0
    from kernels.cuda import syndrome as cuda_syndrome

    return cuda_syndrome.block_size(code.m, code.n)
