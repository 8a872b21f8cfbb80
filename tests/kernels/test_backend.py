"""Backend resolution and zero-copy entry of foreign arrays."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kernels.backend import NUMPY, cupy_backend, default_backend, resolve_backend
from kernels.errors import BackendMismatchError, BackendUnavailableError


def gpu_usable() -> bool:
    try:
        cupy_backend()
    except BackendUnavailableError:
        return False
    return True


def test_importing_kernels_imports_neither_torch_nor_cupy_nor_probes_a_device() -> None:
    code = (
        "import sys, kernels, kernels.backend as b;"
        "print('torch' in sys.modules, 'cupy' in sys.modules,"
        " b.default_backend.cache_info().currsize)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.split() == ["False", "False", "0"]


def test_default_backend_is_resolved_once_and_matches_the_machine() -> None:
    first = default_backend()
    assert default_backend() is first
    assert first.name == ("cupy" if gpu_usable() else "numpy")
    assert resolve_backend(None) is first


def test_explicit_backends_override_the_default() -> None:
    assert resolve_backend("numpy") is NUMPY
    assert resolve_backend(NUMPY) is NUMPY
    with pytest.raises(BackendUnavailableError):
        resolve_backend("tpu")


def test_asking_for_cupy_without_a_gpu_says_why() -> None:
    if gpu_usable():
        pytest.skip("a GPU is present")
    with pytest.raises(BackendUnavailableError) as info:
        resolve_backend("cupy")
    assert info.value.reason


def test_a_cpu_torch_tensor_enters_numpy_without_a_copy() -> None:
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    arr = NUMPY.asarray(t)
    t[0, 0] = 42.0
    assert arr[0, 0] == 42.0 and arr.shape == (2, 3) and arr.dtype == np.float32


def test_a_tensor_that_requires_grad_is_accepted() -> None:
    t = torch.ones(3, requires_grad=True)
    np.testing.assert_array_equal(NUMPY.asarray(t), np.ones(3, dtype=np.float32))


def test_a_cuda_tensor_is_refused_by_the_numpy_backend() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    with pytest.raises(BackendMismatchError):
        NUMPY.asarray(torch.ones(3, device="cuda"))


def test_to_numpy_and_uniform_on_the_cpu() -> None:
    u = NUMPY.uniform((1000,), seed=3, dtype=np.float32)
    assert u.dtype == np.float32 and (u >= 0).all() and (u < 1).all()
    np.testing.assert_array_equal(u, NUMPY.uniform((1000,), seed=3, dtype=np.float32))
    assert isinstance(NUMPY.to_numpy([1, 2]), np.ndarray)
