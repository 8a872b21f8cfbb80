"""QRAF state operations as the kernel worker runs them: the state's arrays and four operations.

The schema's operation names (``quantize``, ``optimize_density``, ``correct_errors``,
``compress_memory``) map onto the ``kernels`` registry (``run_operation``), on the default
backend: CuPy when a GPU answers, else NumPy. A state is a complex unit vector ``psi`` of its
``dimension`` (the amplitudes ``StateCreated`` carries, normalised; with none, seeded from the
state id, so every worker creates the same one) plus a compressive memory; both live in
``<state_dir>/<state_id>.npz``, written atomically after an operation, so a
redelivered operation starts again from the last completed one.

Each operation returns plain float metrics (the ``StateOperationApplied`` payload). Params are the
command's ``dict[str, float]``; unknown params are ignored, bad values raise ``KernelError``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kernels import run_operation
from kernels.backend import Backend, default_backend

MEMORY_HEADS, MEMORY_DK = 1, 8


@dataclass(frozen=True)
class QraftArrays:
    psi: np.ndarray  # [D] complex128, unit norm
    memory: np.ndarray  # [1, H, dk, dk] float64
    norm: np.ndarray  # [1, H, dk] float64


def initial_arrays(
    state_id: str, dimension: int, real: list[float] | None = None, imag: list[float] | None = None
) -> QraftArrays:
    if real:
        psi = np.asarray(real, dtype=np.float64) + 1j * np.asarray(imag or 0.0)  # [D]
    else:
        seed = int.from_bytes(hashlib.sha256(state_id.encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        psi = rng.normal(size=dimension) + 1j * rng.normal(size=dimension)  # [D]
    psi = psi / max(float(np.linalg.norm(psi)), 1e-300)
    memory = np.zeros((1, MEMORY_HEADS, MEMORY_DK, MEMORY_DK))  # [B, H, dk, dv]
    return QraftArrays(psi, memory, np.zeros((1, MEMORY_HEADS, MEMORY_DK)))


class StateArrays:
    """The arrays of every state this worker has touched, one ``.npz`` file each."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, state_id: str) -> Path:
        return self.root / f"{hashlib.sha256(state_id.encode()).hexdigest()[:32]}.npz"

    def load(
        self, state_id: str, dimension: int, real: list[float] | None = None,
        imag: list[float] | None = None,
    ) -> QraftArrays:  # fmt: skip
        """The saved arrays, else the initial ones (from the state's data when it has some)."""
        path = self._path(state_id)
        if not path.is_file():
            return initial_arrays(state_id, dimension, real, imag)
        with np.load(path) as data:
            return QraftArrays(data["psi"], data["memory"], data["norm"])

    def save(self, state_id: str, arrays: QraftArrays) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self._path(state_id)
        tmp = final.with_name(final.stem + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, psi=arrays.psi, memory=arrays.memory, norm=arrays.norm)
        tmp.replace(final)

    def delete(self, state_id: str) -> None:
        self._path(state_id).unlink(missing_ok=True)


Outcome = tuple[QraftArrays, dict[str, float]]


def _host(bk: Backend, value: Any) -> np.ndarray:
    return np.asarray(bk.to_numpy(bk.asarray(value)))


def quantize(a: QraftArrays, p: dict[str, float], bk: Backend) -> Outcome:
    schemes = {4: "int4", 8: "int8", 2: "ternary"}
    scheme = schemes.get(int(p.get("bits", 8)), "int8")
    w = np.stack([a.psi.real, a.psi.imag]).astype(np.float32)  # [2, D]
    options = {"scheme": scheme, "granularity": "channel"}
    q = run_operation("quantization.quantize", {"w": w}, options, bk)
    w_hat = run_operation("quantization.dequantize", q, {"scheme": scheme}, bk)["w"]
    stats = run_operation("quantization.stats", {"w": w, "w_hat": w_hat}, {}, bk)
    host = _host(bk, w_hat).astype(np.float64)  # [2, D]
    psi = host[0] + 1j * host[1]
    psi = psi / max(float(np.linalg.norm(psi)), 1e-12)
    metrics = {k: float(v) for k, v in stats.items()}
    return QraftArrays(psi, a.memory, a.norm), {**metrics, "bits": float(int(p.get("bits", 8)))}


def optimize_density(a: QraftArrays, p: dict[str, float], bk: Backend) -> Outcome:
    rho = _host(bk, run_operation("density.from_state", {"psi": a.psi}, {}, bk)["rho"])  # [D, D]
    rng = np.random.default_rng(int(p.get("seed", 0)))
    noise = rng.normal(size=rho.shape) * float(p.get("noise", 0.05))
    noisy = rho + (noise + noise.T) / 2  # [D, D], Hermitian but not positive semi-definite
    fixed = run_operation("density.project", {"a": noisy}, {}, bk)["rho"]
    metrics = {
        "purity": float(run_operation("density.purity", {"rho": fixed}, {}, bk)["purity"]),
        "entropy": float(run_operation("density.entropy", {"rho": fixed}, {}, bk)["entropy"]),
        "coherence": float(run_operation("density.coherence", {"rho": fixed}, {}, bk)["coherence"]),
    }
    return a, metrics


def correct_errors(a: QraftArrays, p: dict[str, float], bk: Backend) -> Outcome:
    n = int(p.get("n", 3))
    bits = (a.psi.real >= 0).astype(np.uint8)  # [D] sign bits of the amplitudes
    words = np.repeat(bits[:, None], n, axis=1)  # [D, n] repetition code
    rng = np.random.default_rng(int(p.get("seed", 0)))
    flips = (rng.random(words.shape) < float(p.get("flip_prob", 0.05))).astype(np.uint8)
    out = run_operation("ecc.decode", {"words": words ^ flips}, {"code": "repetition", "n": n}, bk)
    corrected = _host(bk, out["corrected"])  # [D, n]
    residual = int((corrected != words).any(axis=1).sum())
    metrics = {"flipped": float(flips.sum()), "residual_word_errors": float(residual),
               "words": float(len(words))}  # fmt: skip
    return a, metrics


def compress_memory(a: QraftArrays, p: dict[str, float], bk: Backend) -> Outcome:
    d = MEMORY_DK
    seg = np.resize(np.concatenate([a.psi.real, a.psi.imag]), (1, MEMORY_HEADS, 4, d))
    k, v = seg, np.roll(seg, 1, axis=-1)  # [B, H, T, dk], [B, H, T, dv]
    inputs = {"k": k, "v": v, "memory": a.memory, "norm": a.norm}
    out = run_operation("memory.write", inputs, {}, bk)
    memory, norm = _host(bk, out["memory"]), _host(bk, out["norm"])
    metrics = {"memory_norm": float(np.linalg.norm(memory)), "norm_sum": float(norm.sum())}
    return QraftArrays(a.psi, memory, norm), metrics


OPERATIONS: dict[str, Callable[[QraftArrays, dict[str, float], Backend], Outcome]] = {
    "quantize": quantize,
    "optimize_density": optimize_density,
    "correct_errors": correct_errors,
    "compress_memory": compress_memory,
}


def apply(name: str, arrays: QraftArrays, params: dict[str, float]) -> Outcome:
    return OPERATIONS[name](arrays, dict(params), default_backend())
