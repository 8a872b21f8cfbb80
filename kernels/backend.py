"""The array backend: CuPy on a GPU, NumPy on the CPU, chosen once and overridable.

Boundary: every kernel takes ``backend: Backend | str | None``. ``None`` means the default backend,
resolved lazily on first use and cached (CuPy when it imports *and* a CUDA device answers, else
NumPy); nothing is probed at import time. Passing ``"numpy"``, ``"cupy"`` or a :class:`Backend`
overrides it for that call, so a test or a worker can pin the backend explicitly.

Deliberate choices:
- Arrays are typed as ``Array = Any``: NumPy and CuPy arrays share an interface that static typing
  cannot express without a protocol longer than the kernels themselves.
- Foreign arrays (torch tensors, anything with ``__dlpack__``) enter through DLPack: a CUDA tensor
  becomes a CuPy view of the same memory, a CPU tensor a NumPy view. A CuPy array given to the NumPy
  backend, or a CUDA tensor given to it, is refused (:class:`BackendMismatchError`) instead of being
  copied to the host behind the caller's back. A CPU array given to the CuPy backend is uploaded —
  that is the one explicit transfer a caller asks for by choosing the GPU.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypeAlias

import numpy as np

from kernels.errors import BackendMismatchError, BackendUnavailableError

Array: TypeAlias = Any
BackendName = Literal["numpy", "cupy"]


@dataclass(frozen=True)
class Backend:
    """An array namespace (``xp``) and what the kernels need to know about it."""

    name: BackendName
    xp: ModuleType

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, x: Any, dtype: Any = None) -> Array:
        """``x`` as an array of this backend, zero-copy where the memory already lives here."""
        if isinstance(x, self.xp.ndarray):
            return x if dtype is None else x.astype(dtype, copy=False)
        module = type(x).__module__
        if module.startswith("torch"):
            arr = self._from_torch(x)
        elif module.startswith("cupy") and not self.is_gpu:
            raise BackendMismatchError(self.name, "cuda (a CuPy array)")
        else:
            arr = self.xp.asarray(x)
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def _from_torch(self, tensor: Any) -> Array:
        tensor = tensor.detach()
        on_cuda = tensor.device.type == "cuda"
        if on_cuda and not self.is_gpu:
            raise BackendMismatchError(self.name, str(tensor.device))
        if self.is_gpu and not on_cuda:
            return self.xp.asarray(np.from_dlpack(tensor))  # explicit upload of a host tensor
        return self.xp.from_dlpack(tensor)

    def to_numpy(self, x: Array) -> np.ndarray:
        """A host copy, for reporting and tests; kernels never call this on their hot path."""
        if self.is_gpu and isinstance(x, self.xp.ndarray):
            return np.asarray(x.get())
        return np.asarray(x)

    def uniform(self, shape: tuple[int, ...], seed: int | None, dtype: Any) -> Array:
        """Uniform samples in [0, 1), drawn on the device that will use them."""
        return self.xp.random.default_rng(seed).random(shape, dtype=dtype)

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the CPU); for benchmarks."""
        if self.is_gpu:
            self.xp.cuda.get_current_stream().synchronize()


NUMPY = Backend("numpy", np)


@functools.cache
def cupy_backend() -> Backend:
    """The CuPy backend (probed once), or :class:`BackendUnavailableError` saying why not."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a warning raised as an error (no CUDA toolkit)
        raise BackendUnavailableError("cupy", f"cupy not importable ({exc})") from exc
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError without a driver; its class varies by version
        raise BackendUnavailableError("cupy", f"no CUDA device ({exc})") from exc
    if count < 1:
        raise BackendUnavailableError("cupy", "no CUDA device")
    return Backend("cupy", cupy)


@functools.cache
def default_backend() -> Backend:
    """CuPy when a GPU is usable, else NumPy; resolved on first call, then cached."""
    try:
        return cupy_backend()
    except BackendUnavailableError:
        return NUMPY


def resolve_backend(spec: Backend | str | None = None) -> Backend:
    """The backend a call should use: an explicit one, one named, or the cached default."""
    if isinstance(spec, Backend):
        return spec
    if spec is None:
        return default_backend()
    if spec == "numpy":
        return NUMPY
    if spec == "cupy":
        return cupy_backend()
    raise BackendUnavailableError(str(spec), "unknown backend name; use 'numpy' or 'cupy'")
