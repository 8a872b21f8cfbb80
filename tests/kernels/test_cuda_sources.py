"""The CUDA sources compile to PTX with NVRTC (no GPU needed) and define every kernel the
launchers call; skipped only where no NVRTC library can be loaded."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import pytest

import kernels.cuda
from kernels.cuda.module import COMPILE_OPTIONS
from kernels.cuda.sources import ALL_SOURCES, KERNEL_NAMES
from tests.kernels.nvrtc import compile_to_ptx, load_nvrtc

ARCHES = ("compute_70", "compute_80", "compute_90")  # V100, A100, H100


@pytest.fixture(scope="module")
def nvrtc() -> ctypes.CDLL:
    lib = load_nvrtc()
    if lib is None:
        pytest.skip("NVRTC not available (install nvidia-cuda-nvrtc-cu12)")
    return lib


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("module", sorted(ALL_SOURCES))
def test_source_compiles_and_defines_its_kernels(
    nvrtc: ctypes.CDLL, module: str, arch: str
) -> None:
    result = compile_to_ptx(nvrtc, ALL_SOURCES[module], (f"-arch={arch}", *COMPILE_OPTIONS))
    assert result.ok, result.log
    for name in KERNEL_NAMES[module]:
        assert f".entry {name}(" in result.ptx, f"{name} missing from the PTX of {module}"


def test_the_check_rejects_a_broken_source(nvrtc: ctypes.CDLL) -> None:
    broken = 'extern "C" __global__ void k(float* x) { x[0] = undefined_function(x[0]); }'
    result = compile_to_ptx(nvrtc, broken, ("-arch=compute_90",))
    assert not result.ok and "undefined_function" in result.log


def test_launchers_call_only_kernels_the_sources_define() -> None:
    launchers = Path(kernels.cuda.__file__).parent
    known = {name for names in KERNEL_NAMES.values() for name in names}
    called: set[str] = set()
    for path in launchers.glob("*.py"):
        called |= set(re.findall(r'"(\w+_(?:f32|c64|c128|u8))"', path.read_text()))
    assert called and called <= known
    assert known <= called, f"defined but never launched: {known - called}"


def test_kernel_names_match_the_sources() -> None:
    for module, names in KERNEL_NAMES.items():
        src = ALL_SOURCES[module]
        defined = set(re.findall(r'extern "C" __global__ void (\w+)\(', src))
        defined |= set(re.findall(r"PHASE_ALIGN_KERNEL\((\w+),", src))
        defined -= {"NAME"}  # the macro's own parameter
        assert set(names) == defined, module
