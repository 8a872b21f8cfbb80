"""The kernels' error hierarchy.

Every error the kernels raise on bad input derives from :class:`KernelError` and also from the
builtin it refines (``ValueError``, ``TypeError`` …), so a caller may catch either. Each error
carries the offending value (a shape, a dtype, a count, a deviation) as attributes, so the kernel
worker can put it in a dead-letter reason without parsing the message.
"""

from __future__ import annotations

from typing import Any


class KernelError(Exception):
    """Base of every error raised by ``kernels``."""


class ShapeError(KernelError, ValueError):
    """An array has the wrong number of dimensions or the wrong extent."""

    def __init__(self, name: str, shape: tuple[int, ...], expected: str) -> None:
        self.name = name
        self.shape = tuple(shape)
        self.expected = expected
        super().__init__(f"{name}: shape {self.shape}, expected {expected}")


class DTypeError(KernelError, TypeError):
    """An array has a dtype the operation does not accept."""

    def __init__(self, name: str, dtype: Any, expected: str) -> None:
        self.name = name
        self.dtype = str(dtype)
        self.expected = expected
        super().__init__(f"{name}: dtype {self.dtype}, expected {expected}")


class EmptyInputError(KernelError, ValueError):
    """An array has no elements where at least one is needed."""

    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        self.name = name
        self.shape = tuple(shape)
        super().__init__(f"{name}: empty array of shape {self.shape}")


class NonFiniteError(KernelError, ValueError):
    """An array holds NaN or ±inf."""

    def __init__(self, name: str, count: int, first_index: tuple[int, ...]) -> None:
        self.name = name
        self.count = count
        self.first_index = first_index
        super().__init__(f"{name}: {count} non-finite value(s), first at index {first_index}")


class NotHermitianError(KernelError, ValueError):
    """A matrix that must be Hermitian is not, within the stated relative tolerance."""

    def __init__(self, name: str, deviation: float, tolerance: float) -> None:
        self.name = name
        self.deviation = deviation
        self.tolerance = tolerance
        super().__init__(
            f"{name}: relative anti-Hermitian part {deviation:.3e} "
            f"exceeds tolerance {tolerance:.1e}"
        )


class ZeroNormError(KernelError, ValueError):
    """A state with zero norm where a normalisable state is needed."""

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.count = count
        super().__init__(f"{name}: {count} state(s) with zero norm")


class OutOfRangeError(KernelError, ValueError):
    """Integer codes outside the range their format can hold."""

    def __init__(self, name: str, low: int, high: int, found: tuple[int, int]) -> None:
        self.name = name
        self.low = low
        self.high = high
        self.found = found
        super().__init__(f"{name}: values in [{found[0]}, {found[1]}], allowed [{low}, {high}]")


class InvalidParameterError(KernelError, ValueError):
    """A scalar parameter outside its domain (group size, bit width, k …)."""

    def __init__(self, name: str, value: Any, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"{name}={value!r}, expected {expected}")


class UncorrectableError(KernelError, ArithmeticError):
    """A checksum mismatch that a single-error corrector cannot repair."""

    def __init__(self, rows: tuple[int, ...], cols: tuple[int, ...]) -> None:
        self.rows = rows
        self.cols = cols
        super().__init__(f"checksum mismatch in rows {rows} and columns {cols}: not one element")


class BackendUnavailableError(KernelError, RuntimeError):
    """The requested array backend cannot be used on this machine."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"backend {name!r} unavailable: {reason}")


class BackendMismatchError(KernelError, TypeError):
    """An array lives on a device the chosen backend cannot read without a host round trip."""

    def __init__(self, backend: str, device: str) -> None:
        self.backend = backend
        self.device = device
        super().__init__(f"array on {device} handed to the {backend} backend")


class UnknownOperationError(KernelError, KeyError):
    """A command names an operation the registry does not hold."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown operation {name!r}; known: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])
