"""Binary parity-check codes: the repetition code and the distance-3 rotated surface code.

Pure host-side constants (tiny matrices); the syndrome and decoding kernels that use them are in
:mod:`kernels.error_correction`.

The rotated surface code ``[[9, 1, 3]]`` has data qubits on a 3×3 grid, index ``3·row + col``:

    0 1 2        X checks: {1,2,4,5} {3,4,6,7} {0,1} {7,8}    (detect Z errors)
    3 4 5        Z checks: {0,1,3,4} {4,5,7,8} {3,6} {2,5}    (detect X errors)
    6 7 8        logical X = X on {0,3,6}, logical Z = Z on {0,1,2}

As a CSS code it is two classical parity-check codes: X errors are decoded with the Z checks and
Z errors with the X checks (a Y error is both). Single errors on qubits 0/1, 7/8 (X) and 2/5, 3/6
(Z) share syndromes; the decoder's choice differs from the error by a stabilizer, which is a
correct decoding — the test checks that the residual has zero syndrome and no logical action.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.errors import DTypeError, EmptyInputError, InvalidParameterError, ShapeError


@dataclass(frozen=True)
class ParityCheckCode:
    """A binary linear code given by its parity-check matrix ``H[m, n]`` (host, uint8 0/1)."""

    name: str
    checks: np.ndarray

    @property
    def n(self) -> int:
        return int(self.checks.shape[1])

    @property
    def m(self) -> int:
        return int(self.checks.shape[0])

    @classmethod
    def from_matrix(cls, checks: object, name: str = "custom") -> ParityCheckCode:
        h = np.asarray(checks)
        if h.ndim != 2:
            raise ShapeError("check_matrix", h.shape, "[m, n]")
        if h.size == 0:
            raise EmptyInputError("check_matrix", h.shape)
        if h.dtype.kind not in "biu":
            raise DTypeError("check_matrix", h.dtype, "an integer or bool dtype with 0/1 entries")
        if not np.isin(h, (0, 1)).all():
            raise InvalidParameterError("check_matrix", "entries outside {0, 1}", "binary entries")
        return cls(name, np.ascontiguousarray(h.astype(np.uint8)))


@dataclass(frozen=True)
class CSSCode:
    """A CSS code: X checks (detect Z errors), Z checks (detect X errors) and one logical pair."""

    name: str
    x_checks: ParityCheckCode
    z_checks: ParityCheckCode
    logical_x: np.ndarray  # [n] support of the logical X operator
    logical_z: np.ndarray  # [n] support of the logical Z operator


def repetition_code(n: int) -> ParityCheckCode:
    """``n`` copies of one bit; check ``i`` compares bits ``i`` and ``i + 1``."""
    if n < 2:
        raise InvalidParameterError("n", n, "at least 2")
    h = np.zeros((n - 1, n), dtype=np.uint8)
    rows = np.arange(n - 1)
    h[rows, rows] = 1
    h[rows, rows + 1] = 1
    return ParityCheckCode(f"repetition-{n}", h)


def _support_matrix(supports: list[list[int]], n: int) -> np.ndarray:
    h = np.zeros((len(supports), n), dtype=np.uint8)
    for row, cols in enumerate(supports):
        h[row, cols] = 1
    return h


def surface_code_d3() -> CSSCode:
    """The distance-3 rotated surface code (see the module docstring for its layout)."""
    x = _support_matrix([[1, 2, 4, 5], [3, 4, 6, 7], [0, 1], [7, 8]], 9)
    z = _support_matrix([[0, 1, 3, 4], [4, 5, 7, 8], [3, 6], [2, 5]], 9)
    return CSSCode(
        name="rotated-surface-d3",
        x_checks=ParityCheckCode("surface-d3-x", x),
        z_checks=ParityCheckCode("surface-d3-z", z),
        logical_x=_support_matrix([[0, 3, 6]], 9)[0],
        logical_z=_support_matrix([[0, 1, 2]], 9)[0],
    )
