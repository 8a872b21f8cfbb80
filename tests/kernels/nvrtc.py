"""A minimal ctypes binding of NVRTC, to compile CUDA sources to PTX without a GPU or CuPy.

NVRTC ships as a pip wheel (``nvidia-cuda-nvrtc-cu12``, a dependency of torch's CUDA wheels), so
a CPU-only CI can still catch a kernel source that does not compile.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Compiled:
    ok: bool
    log: str
    ptx: str


def load_nvrtc() -> ctypes.CDLL | None:
    """The NVRTC library from the pip wheel or the system, or None."""
    candidates: list[str] = []
    spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates += [str(p) for p in sorted(Path(location, "lib").glob("libnvrtc.so*"))]
    system = ctypes.util.find_library("nvrtc")
    candidates += [system] if system else []
    for path in candidates:
        if "builtins" in path:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def compile_to_ptx(lib: ctypes.CDLL, source: str, options: tuple[str, ...]) -> Compiled:
    prog = ctypes.c_void_p()
    status = lib.nvrtcCreateProgram(
        ctypes.byref(prog), source.encode(), b"kernel.cu", 0, None, None
    )
    if status != 0:
        return Compiled(False, f"nvrtcCreateProgram failed with status {status}", "")
    try:
        opts = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        ok = lib.nvrtcCompileProgram(prog, len(options), opts) == 0
        return Compiled(ok, _read(lib, prog, "ProgramLog"), _read(lib, prog, "PTX") if ok else "")
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _read(lib: ctypes.CDLL, prog: ctypes.c_void_p, what: str) -> str:
    size = ctypes.c_size_t()
    getattr(lib, f"nvrtcGet{what}Size")(prog, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    getattr(lib, f"nvrtcGet{what}")(prog, buf)
    return buf.value.decode(errors="replace")
