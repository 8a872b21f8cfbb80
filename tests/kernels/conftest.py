"""Fixtures for the kernel tests: a seeded generator whose seed is printed (pytest shows it when a
test fails; rerun with ``KERNELS_TEST_SEED=<seed>``), and the two backends."""

from __future__ import annotations

import os
import secrets

import numpy as np
import pytest

from kernels.backend import NUMPY, Backend, cupy_backend
from kernels.errors import BackendUnavailableError


@pytest.fixture
def rng() -> np.random.Generator:
    seed = int(os.environ.get("KERNELS_TEST_SEED", secrets.randbits(32)))
    print(f"KERNELS_TEST_SEED={seed}")
    return np.random.default_rng(seed)


@pytest.fixture
def np_bk() -> Backend:
    return NUMPY


@pytest.fixture
def cupy_bk() -> Backend:
    """The CuPy backend; skips the test where CuPy or a CUDA device is missing."""
    try:
        return cupy_backend()
    except BackendUnavailableError as exc:
        pytest.skip(f"needs CuPy and a CUDA device: {exc.reason}")


def pytest_report_header() -> str:
    """Names the device the GPU tests ran on (or why they skip), for the record."""
    try:
        bk = cupy_backend()
    except BackendUnavailableError as exc:
        return f"kernels: NumPy backend only; GPU tests skip ({exc.reason})"
    props = bk.xp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return f"kernels: CuPy {bk.xp.__version__} on {name}"
