"""QRAF kernels: throughput and bytes moved per second, CPU (NumPy) and GPU (CuPy) when present.

    python -m tests.benchmarks.bench_kernels [--scale 1.0] [--cpu-only]

CPU: every operation on the NumPy backend against a naive NumPy version of the same computation
— a Python loop over the leading axis (rows, groups, matrices, states, words, heads, queries)
doing the textbook formula for one item — measured side by side in one run. A naive loop may be
timed on a prefix of the items (same work per item) and is then reported per item; the ratio is
items/s of the kernel over items/s of the naive loop.

GPU (when CuPy imports and a CUDA device answers): the device name, the device-to-device copy
bandwidth measured in the same run (``cudaMemcpy`` D2D, read + write counted), and each
operation's achieved GB/s as a fraction of it (target ≥ 60% for the memory-bound operations);
the batched density projection against ``torch.linalg.eigh`` plus the same simplex step.

"Bytes moved" is the compulsory traffic: every input read once and every output written once.
Times are the best of several repetitions (CPU, wall clock) or the median of CUDA-event timings.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from kernels import (
    abft,
    compressive_memory,
    density,
    error_correction,
    phase,
    quantization,
    state_network,
)
from kernels.backend import NUMPY, Backend, cupy_backend
from kernels.codes import surface_code_d3
from kernels.errors import BackendUnavailableError


@dataclass(frozen=True)
class Case:
    name: str
    items: int  # rows / groups / matrices / states / words processed by ``fast``
    unit: str
    bytes_moved: int  # compulsory traffic of ``fast``
    fast: Callable[[], object]
    naive: Callable[[], object] | None = None
    naive_items: int = 0  # items processed by ``naive`` (a prefix of the same input)
    memory_bound: bool = True


def best_time(fn: Callable[[], object], min_total: float = 1.0, max_reps: int = 40) -> float:
    fn()  # warm-up: caches, lazy compilation, allocator
    times: list[float] = []
    while sum(times) < min_total and len(times) < max_reps:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# ---------------------------------------------------------------- naive baselines (one item/step)


def naive_quantize_channel_int8(w: np.ndarray) -> np.ndarray:
    codes = np.empty(w.shape, dtype=np.int8)
    for r, row in enumerate(w):
        s = np.abs(row).max() / 127
        codes[r] = np.clip(np.rint(row / s), -127, 127)
    return codes


def naive_quantize_pack_int4_group(w: np.ndarray) -> np.ndarray:
    groups = w.reshape(-1, 128)
    out = np.empty((groups.shape[0], 64), dtype=np.uint8)
    for g, grp in enumerate(groups):
        s = np.abs(grp).max() / 7
        q = np.clip(np.rint(grp / s), -7, 7).astype(np.int16) & 0xF
        out[g] = (q[0::2] | (q[1::2] << 4)).astype(np.uint8)
    return out


def naive_quantize_pack_ternary(w: np.ndarray) -> np.ndarray:
    gamma = np.abs(w).mean(dtype=np.float64)
    out = np.empty((w.shape[0], w.shape[1] // 4), dtype=np.uint8)
    for r, row in enumerate(w):
        t = (np.clip(np.rint(row / gamma), -1, 1) + 1).astype(np.uint8)
        out[r] = t[0::4] | (t[1::4] << 2) | (t[2::4] << 4) | (t[3::4] << 6)
    return out


def naive_unpack_dequantize_int4(packed: np.ndarray, scale: np.ndarray) -> np.ndarray:
    out = np.empty((packed.shape[0], packed.shape[1] * 2), dtype=np.float32)
    for r, row in enumerate(packed):
        nib = np.stack([row & 0xF, row >> 4], axis=-1).reshape(-1).astype(np.int8)
        codes = (nib ^ 8) - 8
        out[r] = (codes.reshape(-1, 128) * scale[r][:, None]).reshape(-1)
    return out


def naive_project(a: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    for b, m in enumerate(a):
        lam, u = np.linalg.eigh((m + m.conj().T) / 2)
        desc = np.sort(lam)[::-1]
        css = np.cumsum(desc)
        k = max(j + 1 for j in range(len(desc)) if desc[j] - (css[j] - 1) / (j + 1) > 0)
        mu = np.maximum(lam - (css[k - 1] - 1) / k, 0)
        out[b] = (u * mu) @ u.conj().T
    return out


def naive_syndromes(h: np.ndarray, words: np.ndarray) -> np.ndarray:
    return np.stack([(h.astype(np.int64) @ w) % 2 for w in words])


def naive_decode(table: dict[int, np.ndarray], h: np.ndarray, words: np.ndarray) -> np.ndarray:
    powers = 1 << np.arange(h.shape[0])
    out = np.empty_like(words)
    for i, w in enumerate(words):
        out[i] = w ^ table[int(((h.astype(np.int64) @ w) % 2) @ powers)]
    return out


def naive_align(psi: np.ndarray, ref: np.ndarray) -> np.ndarray:
    out = np.empty_like(psi)
    for i, state in enumerate(psi):
        ip = np.vdot(ref, state)
        out[i] = state * np.exp(-1j * np.angle(ip))
    return out


def naive_attend(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mem: compressive_memory.MemoryState,
    beta: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Infini-attention segment, one (batch, head) at a time."""
    out = np.empty(v.shape, dtype=v.dtype)
    new_m, new_z = np.empty_like(mem.memory), np.empty_like(mem.norm)
    s = q.shape[2]
    causal = np.tril(np.ones((s, s), dtype=bool))
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            m, z = mem.memory[b, h], mem.norm[b, h]
            sq = compressive_memory.elu_plus_one(np, q[b, h])
            sk = compressive_memory.elu_plus_one(np, k[b, h])
            a_mem = (sq @ m) / (sq @ z)[:, None]
            scores = np.where(causal, q[b, h] @ k[b, h].T / math.sqrt(q.shape[-1]), -np.inf)
            w = np.exp(scores - scores.max(axis=-1, keepdims=True))
            a_dot = (w / w.sum(axis=-1, keepdims=True)) @ v[b, h]
            g = 1 / (1 + math.exp(-beta[h]))
            out[b, h] = g * a_mem + (1 - g) * a_dot
            new_m[b, h] = m + sk.T @ (v[b, h] - (sk @ m) / (sk @ z)[:, None])
            new_z[b, h] = z + sk.sum(axis=0)
    return out, new_m, new_z


def naive_route(states: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    unit = states / np.linalg.norm(states, axis=1, keepdims=True)
    out = np.empty((len(queries), k), dtype=np.int64)
    for i, q in enumerate(queries):
        fid = np.abs(unit.conj() @ q) ** 2 / np.vdot(q, q).real
        out[i] = np.argsort(-fid)[:k]
    return out


# ----------------------------------------------------------------------------------- CPU cases


def cpu_cases(rng: np.random.Generator, scale: float) -> list[Case]:
    bk = NUMPY
    rows = max(64, int(1024 * scale))
    w = rng.standard_normal((rows, 4096)).astype(np.float32)  # [rows, 4096]
    n = w.size
    p4 = quantization.quantize_pack(w, "int4", "group", backend=bk)
    batch = max(256, int(4096 * scale))
    herm = (lambda x: (x + x.conj().swapaxes(-1, -2)) / 2)(
        rng.standard_normal((batch, 8, 8)) + 1j * rng.standard_normal((batch, 8, 8))
    )  # [batch, 8, 8] complex128
    code = surface_code_d3().z_checks
    words = (rng.random((max(10_000, int(400_000 * scale)), 9)) < 0.05).astype(np.uint8)
    decoder = error_correction.build_lookup_decoder(code)
    table = {i: decoder.corrections[i] for i in range(len(decoder.corrections))}
    m = max(128, int(768 * scale))
    a_mat, b_mat = rng.standard_normal((m, m)), rng.standard_normal((m, m))
    states = max(256, int(4096 * scale))
    psi = (rng.standard_normal((states, 1024)) + 1j * rng.standard_normal((states, 1024))).astype(
        np.complex64
    )
    ref = psi[0].copy()
    q, k, v = (rng.standard_normal((4, 8, 256, 64)).astype(np.float32) for _ in range(3))
    beta = rng.standard_normal(8).astype(np.float32)
    empty = compressive_memory.empty_memory(4, 8, 64, 64, np.float32, bk)
    mem = compressive_memory.memory_write(empty, k, v, bk)  # a previous segment's memory
    store = (rng.standard_normal((20_000, 64)) + 1j * rng.standard_normal((20_000, 64))).astype(
        np.complex64
    )
    queries = store[:256] + 0.1

    return [
        Case(
            "quantize int8 / channel",
            rows,
            "rows",
            5 * n,
            lambda: quantization.quantize(w, "int8", "channel", backend=bk),
            lambda: naive_quantize_channel_int8(w),
            rows,
        ),
        Case(
            "quantize+pack int4 / group 128",
            n // 128,
            "groups",
            4 * n + n // 2 + 4 * (n // 128),
            lambda: quantization.quantize_pack(w, "int4", "group", backend=bk),
            lambda: naive_quantize_pack_int4_group(w[: rows // 8]),
            (rows // 8) * 32,
        ),
        Case(
            "quantize+pack ternary / tensor",
            rows,
            "rows",
            4 * n + n // 4,
            lambda: quantization.quantize_pack(w, "ternary", "tensor", backend=bk),
            lambda: naive_quantize_pack_ternary(w),
            rows,
        ),
        Case(
            "unpack+dequantize int4 / group 128",
            rows,
            "rows",
            n // 2 + 4 * n,
            lambda: quantization.dequantize(p4, bk),
            lambda: naive_unpack_dequantize_int4(p4.data, p4.scale),
            rows,
        ),
        Case(
            "density.project 8x8 c128",
            batch,
            "matrices",
            2 * herm.nbytes,
            lambda: density.nearest_density_matrix(herm, backend=bk),
            lambda: naive_project(herm[: batch // 8]),
            batch // 8,
            memory_bound=False,
        ),
        Case(
            "density.purity 8x8 c128",
            batch,
            "matrices",
            herm.nbytes + 8 * batch,
            lambda: density.purity(herm, backend=bk),
            lambda: [np.trace(x @ x).real for x in herm[: batch // 4]],
            batch // 4,
        ),
        Case(
            "ecc.syndrome surface-d3",
            len(words),
            "words",
            words.nbytes + len(words) * (4 + 8),
            lambda: error_correction.syndrome(code, words, bk),
            lambda: naive_syndromes(code.checks, words[:20_000]),
            20_000,
        ),
        Case(
            "ecc.decode surface-d3 (lookup)",
            len(words),
            "words",
            2 * words.nbytes,
            lambda: error_correction.decode(decoder, words, bk),
            lambda: naive_decode(table, code.checks, words[:20_000]),
            20_000,
        ),
        Case(
            f"abft.matmul {m}^3 f64 (vs compute twice)",
            1,
            "products",
            8 * 3 * m * m,
            lambda: abft.checked_matmul(a_mat, b_mat, backend=bk),
            lambda: bool(np.array_equal(a_mat @ b_mat, a_mat @ b_mat)),
            1,
            memory_bound=False,
        ),
        Case(
            f"plain matmul {m}^3 f64 (reference cost)",
            1,
            "products",
            8 * 3 * m * m,
            lambda: a_mat @ b_mat,
            None,
            0,
            memory_bound=False,
        ),
        Case(
            "phase.align 1024 c64",
            states,
            "states",
            2 * psi.nbytes + 8 * states,
            lambda: phase.align_phase(psi, ref, bk),
            lambda: naive_align(psi, ref),
            states,
        ),
        Case(
            "memory.attend B4 H8 S256 d64 f32",
            32,
            "heads",
            4 * q.nbytes + 2 * mem.memory.nbytes,
            lambda: compressive_memory.compressive_attention(q, k, v, mem, beta, backend=bk),
            lambda: naive_attend(q, k, v, mem, beta),
            32,
            memory_bound=False,
        ),
        Case(
            "network.route 20000x64 c64, top-8",
            256,
            "queries",
            store.nbytes + queries.nbytes,
            lambda: state_network.route(store, queries, 8, bk),
            lambda: naive_route(store, queries[:64], 8),
            64,
            memory_bound=False,
        ),
    ]


def run_cpu(rng: np.random.Generator, scale: float) -> None:
    print(f"\n## CPU (NumPy {np.__version__}, {platform.processor() or platform.machine()})\n")
    print("| operation | kernel items/s | kernel GB/s | naive items/s | naive GB/s | ratio |")
    print("|---|---|---|---|---|---|")
    for case in cpu_cases(rng, scale):
        t = best_time(case.fast)
        rate, gbs = case.items / t, case.bytes_moved / t / 1e9
        if case.naive is None:
            print(f"| {case.name} | {rate:,.1f} {case.unit}/s | {gbs:.2f} | — | — | — |")
            continue
        tn = best_time(case.naive, min_total=0.5, max_reps=5)
        naive_rate = case.naive_items / tn
        naive_gbs = naive_rate * case.bytes_moved / case.items / 1e9
        print(
            f"| {case.name} | {rate:,.1f} {case.unit}/s | {gbs:.2f} | {naive_rate:,.1f} | "
            f"{naive_gbs:.2f} | {rate / naive_rate:.1f}× |"
        )


# ----------------------------------------------------------------------------------- GPU cases


def gpu_time(bk: Backend, fn: Callable[[], object], reps: int = 20) -> float:
    cp = bk.xp
    fn()
    bk.synchronize()
    times = []
    for _ in range(reps):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end) / 1e3)
    return statistics.median(times)


def d2d_bandwidth(bk: Backend, nbytes: int = 1 << 30) -> float:
    cp = bk.xp
    src = cp.empty(nbytes, dtype=cp.uint8)
    dst = cp.empty_like(src)
    t = gpu_time(bk, lambda: dst.data.copy_from_device_async(src.data, nbytes), reps=10)
    return 2 * nbytes / t / 1e9  # one read + one write per byte


def gpu_cases(
    bk: Backend, rng: np.random.Generator
) -> list[tuple[str, int, Callable[[], object], bool]]:
    cp = bk.xp
    w = cp.asarray(rng.standard_normal((8192, 8192)).astype(np.float32))  # 256 MiB
    n = w.size
    p4 = quantization.quantize_pack(w, "int4", "group", backend=bk)
    psi = cp.asarray(
        (rng.standard_normal((32768, 2048)) + 1j * rng.standard_normal((32768, 2048))).astype(
            np.complex64
        )
    )
    ref = psi[0].copy()
    code = surface_code_d3().z_checks
    words = cp.asarray((rng.random((8_000_000, 9)) < 0.05).astype(np.uint8))
    return [
        (
            "quantize+pack int4 / group 128",
            4 * n + n // 2 + 4 * (n // 128),
            lambda: quantization.quantize_pack(w, "int4", "group", backend=bk),
            True,
        ),
        (
            "quantize+pack ternary / tensor",
            4 * n + n // 4,
            lambda: quantization.quantize_pack(w, "ternary", "tensor", backend=bk),
            True,
        ),
        (
            "quantize int8 / channel (codes)",
            5 * n,
            lambda: quantization.quantize(w, "int8", "channel", backend=bk),
            True,
        ),
        (
            "unpack+dequantize int4 (fused)",
            n // 2 + 4 * n,
            lambda: quantization.dequantize(p4, bk),
            True,
        ),
        ("phase.align 2048 c64", 2 * psi.nbytes, lambda: phase.align_phase(psi, ref, bk), True),
        (
            "ecc.syndrome surface-d3",
            words.nbytes + words.shape[0] * 12,
            lambda: error_correction.syndrome(code, words, bk),
            True,
        ),
    ]


def run_gpu(bk: Backend, rng: np.random.Generator) -> None:
    cp = bk.xp
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    copy_bw = d2d_bandwidth(bk)
    print(f"\n## GPU: {name} (CuPy {cp.__version__})\n")
    print(f"device-to-device copy bandwidth (this run): {copy_bw:,.1f} GB/s\n")
    print("| operation | time ms | achieved GB/s | % of D2D copy | memory-bound (target ≥ 60%) |")
    print("|---|---|---|---|---|")
    for label, nbytes, fn, bound in gpu_cases(bk, rng):
        t = gpu_time(bk, fn)
        gbs = nbytes / t / 1e9
        share = f"{100 * gbs / copy_bw:.0f}%"
        print(f"| {label} | {t * 1e3:.3f} | {gbs:,.1f} | {share} | {'yes' if bound else 'no'} |")
    run_gpu_density(bk, rng)


def run_gpu_density(bk: Backend, rng: np.random.Generator) -> None:
    try:
        import torch
    except ImportError:
        print("\n(torch not importable: density comparison skipped)")
        return
    if not torch.cuda.is_available():
        print("\n(torch has no CUDA: density comparison skipped)")
        return
    print(
        "\n| density projection (batch × n×n, complex64) | kernels (cuSOLVER batched) ms"
        " | torch.linalg.eigh + simplex ms | ratio |"
    )
    print("|---|---|---|---|")
    for batch, n in ((16384, 8), (16384, 16), (4096, 32), (1024, 64)):
        a = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
        a = ((a + a.conj().swapaxes(-1, -2)) / 2).astype(np.complex64)
        a_cp = bk.xp.asarray(a)
        a_t = torch.from_dlpack(a_cp)  # the same device memory, no copy
        t_k = gpu_time(bk, partial(density.nearest_density_matrix, a_cp, backend=bk), reps=10)
        t_t = gpu_time(bk, partial(_torch_projection, torch, a_t), reps=10)
        print(f"| {batch} × {n}×{n} | {t_k * 1e3:.2f} | {t_t * 1e3:.2f} | {t_t / t_k:.2f}× |")


def _torch_projection(torch: Any, a: Any) -> Any:
    lam, u = torch.linalg.eigh(a)  # ascending
    desc = torch.flip(lam, dims=(-1,))
    css = torch.cumsum(desc, dim=-1)
    k = torch.arange(1, a.shape[-1] + 1, device=a.device, dtype=lam.dtype)
    support = (desc - (css - 1) / k > 0).sum(dim=-1, keepdim=True)
    theta = (torch.gather(css, -1, support - 1) - 1) / support.to(lam.dtype)
    mu = torch.clamp(lam - theta, min=0)
    return (u * mu.unsqueeze(-2).to(u.dtype)) @ u.conj().transpose(-1, -2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="CPU problem-size multiplier")
    parser.add_argument("--cpu-only", action="store_true", help="skip the GPU section")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    run_cpu(rng, args.scale)
    if not args.cpu_only:
        try:
            bk = cupy_backend()
        except BackendUnavailableError as exc:
            print(f"\n## GPU\n\nnot measured: {exc.reason}")
        else:
            run_gpu(bk, rng)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
