"""Compiled CUDA modules, built once per process on first use (CuPy caches the binary on disk)."""

from __future__ import annotations

import functools
from typing import Any

from kernels.cuda.sources import ALL_SOURCES

COMPILE_OPTIONS = ("--std=c++17",)


@functools.cache
def raw_module(name: str) -> Any:
    """The ``cupy.RawModule`` holding the kernels of ``ALL_SOURCES[name]``."""
    import cupy

    return cupy.RawModule(code=ALL_SOURCES[name], options=COMPILE_OPTIONS)


def kernel(module_name: str, function: str) -> Any:
    return raw_module(module_name).get_function(function)


def threads_for(extent: int, cap: int = 256) -> int:
    """A block size: a multiple of 32, no larger than ``cap``, no larger than needed."""
    return max(32, min(cap, -(-extent // 32) * 32))
