"""The error hierarchy: one base class, the refined builtin, and the offending value attached."""

from __future__ import annotations

import inspect

import pytest

from kernels import errors
from kernels.errors import KernelError, NonFiniteError, ShapeError

ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, Exception) and cls is not KernelError and cls.__module__ == errors.__name__
]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_a_kernel_error_and_a_builtin_error(cls: type) -> None:
    assert issubclass(cls, KernelError)
    builtins = [
        b
        for b in cls.__mro__
        if b.__module__ == "builtins" and b not in (Exception, BaseException, object)
    ]
    assert builtins, f"{cls.__name__} refines no builtin error"  # fmt: skip


def test_errors_carry_the_offending_values() -> None:
    e = ShapeError("a", (3, 4), "[..., n, n]")
    assert e.shape == (3, 4) and "(3, 4)" in str(e)
    n = NonFiniteError("w", 2, (1, 5))
    assert (n.count, n.first_index) == (2, (1, 5)) and isinstance(n, ValueError)
