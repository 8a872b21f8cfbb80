"""CuPy against NumPy on the same inputs; runs where CuPy and a CUDA device are present and
skips otherwise (CI has no GPU). Deterministic quantization codes must be bit-identical; float
results agree within the tolerances stated in each kernel module."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kernels import operations
from kernels.abft import checked_matmul
from kernels.backend import Backend
from kernels.codes import ParityCheckCode, surface_code_d3
from kernels.compressive_memory import compressive_attention, empty_memory
from kernels.density import nearest_density_matrix, purity, von_neumann_entropy
from kernels.error_correction import decode_css, syndrome
from kernels.errors import BackendMismatchError, NonFiniteError, OutOfRangeError, ZeroNormError
from kernels.phase import align_phase
from kernels.quantization import (
    Granularity,
    PackedTensor,
    Scheme,
    dequantize,
    quantize,
    quantize_pack,
    unpack_tensor,
)
from kernels.state_network import route
from tests.kernels.reference import quantize_reference, random_hermitian, random_states

pytestmark = pytest.mark.gpu

GRANULARITIES: tuple[Granularity, ...] = ("tensor", "channel", "group")


def host(bk: Backend, x: Any) -> np.ndarray:
    return bk.to_numpy(x)


@pytest.mark.parametrize("scheme", ["int8", "int4"])
@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_symmetric_codes_and_packed_bytes_are_bit_identical(
    rng: np.random.Generator,
    np_bk: Backend,
    cupy_bk: Backend,
    scheme: Scheme,
    granularity: Granularity,
) -> None:
    w = (rng.standard_normal((64, 1024)) * 3).astype(np.float32)
    cpu, gpu = (
        quantize(w, scheme, granularity, backend=np_bk),
        quantize(w, scheme, granularity, backend=cupy_bk),
    )
    np.testing.assert_array_equal(host(cupy_bk, gpu.scale), cpu.scale)
    np.testing.assert_array_equal(host(cupy_bk, gpu.codes), cpu.codes)
    p_cpu = quantize_pack(w, scheme, granularity, backend=np_bk)
    p_gpu = quantize_pack(w, scheme, granularity, backend=cupy_bk)
    np.testing.assert_array_equal(host(cupy_bk, p_gpu.data), p_cpu.data)


@pytest.mark.parametrize(
    ("shape", "granularity", "group_size"),
    [
        ((4, 16384), "channel", 128),  # too large to stage: two-pass kernels
        ((5, 15), "channel", 128),  # odd rows: fused, with a padded last byte
        ((3, 384), "group", 3),  # bytes straddle groups: two-pass kernels
        ((1000,), "tensor", 128),  # one small group: fused
    ],
)
def test_every_kernel_layout_packs_bit_identical_int4(
    rng: np.random.Generator,
    np_bk: Backend,
    cupy_bk: Backend,
    shape: tuple[int, ...],
    granularity: Granularity,
    group_size: int,
) -> None:
    w = rng.standard_normal(shape).astype(np.float32)
    cpu = quantize_pack(w, "int4", granularity, group_size, backend=np_bk)
    gpu = quantize_pack(w, "int4", granularity, group_size, backend=cupy_bk)
    np.testing.assert_array_equal(host(cupy_bk, gpu.scale), cpu.scale)
    np.testing.assert_array_equal(host(cupy_bk, gpu.data), cpu.data)


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_ternary_codes_agree_except_at_rounding_ties(
    rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend, granularity: Granularity
) -> None:
    w = rng.standard_normal((32, 1024)).astype(np.float32)
    cpu = quantize(w, "ternary", granularity, backend=np_bk)
    gpu = unpack_tensor(quantize_pack(w, "ternary", granularity, backend=cupy_bk), cupy_bk)
    np.testing.assert_allclose(host(cupy_bk, gpu.scale), cpu.scale, rtol=1e-6)
    x, _ = quantize_reference(
        w, "ternary", {"tensor": w.size, "channel": 1024, "group": 128}[granularity]
    )
    differ = host(cupy_bk, gpu.codes) != cpu.codes
    near_tie = np.abs(np.abs(x - np.floor(x)) - 0.5) < 1e-5
    assert not (differ & ~near_tie).any()


@pytest.mark.parametrize("scheme", ["ternary", "int4", "int8"])
def test_fused_unpack_dequantize_is_bit_identical(
    rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend, scheme: Scheme
) -> None:
    w = rng.standard_normal((48, 384)).astype(np.float32)
    packed = quantize_pack(w, scheme, "group", backend=np_bk)
    on_gpu = PackedTensor(
        cupy_bk.asarray(packed.data), cupy_bk.asarray(packed.scale), scheme, packed.shape
    )
    np.testing.assert_array_equal(
        host(cupy_bk, dequantize(on_gpu, cupy_bk)), dequantize(packed, np_bk)
    )


def test_gpu_unpack_rejects_an_invalid_ternary_field(cupy_bk: Backend) -> None:
    bad = PackedTensor(
        cupy_bk.asarray(np.array([[0b11]], np.uint8)),
        cupy_bk.asarray(np.ones(1, np.float32)),
        "ternary",
        (1, 1),
    )
    with pytest.raises(OutOfRangeError):
        dequantize(bad, cupy_bk)


def test_stochastic_rounding_with_shared_noise_is_identical(
    rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend
) -> None:
    w = rng.standard_normal((16, 512)).astype(np.float32)
    noise = rng.random(w.shape).astype(np.float32)
    cpu = quantize_pack(w, "int4", rounding="stochastic", noise=noise, backend=np_bk)
    gpu = quantize_pack(w, "int4", rounding="stochastic", noise=noise, backend=cupy_bk)
    np.testing.assert_array_equal(host(cupy_bk, gpu.data), cpu.data)


def test_gpu_quantization_reports_non_finite_input(cupy_bk: Backend) -> None:
    w = np.ones((4, 256), dtype=np.float32)
    w[2, 7] = np.inf
    with pytest.raises(NonFiniteError) as info:
        quantize_pack(w, "int4", backend=cupy_bk)
    assert info.value.first_index == (2, 7)


@pytest.mark.parametrize(("dtype", "rtol"), [(np.complex64, 1e-5), (np.complex128, 1e-12)])
@pytest.mark.parametrize("shared", [True, False])
def test_phase_alignment_matches(
    rng: np.random.Generator,
    np_bk: Backend,
    cupy_bk: Backend,
    dtype: type,
    rtol: float,
    shared: bool,
) -> None:
    psi: np.ndarray = random_states(rng, (300, 1000)).astype(dtype)
    ref: np.ndarray = random_states(rng, (1000,) if shared else (300, 1000)).astype(dtype)
    cpu, gpu = align_phase(psi, ref, np_bk), align_phase(psi, ref, cupy_bk)
    np.testing.assert_allclose(host(cupy_bk, gpu.aligned), cpu.aligned, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(host(cupy_bk, gpu.fidelity), cpu.fidelity, rtol=rtol, atol=rtol)


def test_gpu_phase_alignment_rejects_zero_norm_and_nan(cupy_bk: Backend) -> None:
    with pytest.raises(ZeroNormError):
        align_phase(np.zeros((2, 4), np.complex64), np.ones(4, np.complex64), cupy_bk)
    psi = np.ones((2, 4), np.complex64)
    psi[1, 2] = np.nan
    with pytest.raises(NonFiniteError):
        align_phase(psi, np.ones(4, np.complex64), cupy_bk)


@pytest.mark.parametrize(("m", "n"), [(6, 20), (40, 63), (3, 400)])
def test_syndromes_are_identical(
    rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend, m: int, n: int
) -> None:
    code = ParityCheckCode.from_matrix(rng.integers(0, 2, size=(m, n)))
    words = rng.integers(0, 2, size=(5000, n)).astype(np.uint8)
    s_cpu, i_cpu = syndrome(code, words, np_bk)
    s_gpu, i_gpu = syndrome(code, words, cupy_bk)
    np.testing.assert_array_equal(host(cupy_bk, s_gpu), s_cpu)
    np.testing.assert_array_equal(host(cupy_bk, i_gpu), i_cpu)


def test_surface_code_decoding_is_identical(
    rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend
) -> None:
    code = surface_code_d3()
    ex = (rng.random((2000, 9)) < 0.1).astype(np.uint8)
    ez = (rng.random((2000, 9)) < 0.1).astype(np.uint8)
    for d_cpu, d_gpu in zip(
        decode_css(code, ex, ez, np_bk), decode_css(code, ex, ez, cupy_bk), strict=True
    ):
        np.testing.assert_array_equal(host(cupy_bk, d_gpu.corrected), d_cpu.corrected)


@pytest.mark.parametrize(
    ("n", "dtype", "atol"),
    [(8, np.complex128, 1e-10), (32, np.complex64, 1e-4), (48, np.complex128, 1e-10)],
)
def test_density_projection_matches(
    rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend, n: int, dtype: type, atol: float
) -> None:
    a: np.ndarray = random_hermitian(rng, 64, n).astype(dtype)
    cpu, gpu = nearest_density_matrix(a, backend=np_bk), nearest_density_matrix(a, backend=cupy_bk)
    np.testing.assert_allclose(host(cupy_bk, gpu), cpu, atol=atol)
    np.testing.assert_allclose(
        host(cupy_bk, purity(gpu, backend=cupy_bk)), purity(cpu, backend=np_bk), atol=atol
    )
    np.testing.assert_allclose(
        host(cupy_bk, von_neumann_entropy(gpu, backend=cupy_bk)),
        von_neumann_entropy(cpu, backend=np_bk),
        atol=10 * atol,
    )


def test_abft_locates_the_same_corruption(
    rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend
) -> None:
    a, b = rng.standard_normal((128, 96)), rng.standard_normal((96, 64))

    def fault(full: Any) -> None:
        full[17, 33] += 3.0

    cpu, gpu = checked_matmul(a, b, fault, np_bk), checked_matmul(a, b, fault, cupy_bk)
    assert (gpu.report.row, gpu.report.col) == (cpu.report.row, cpu.report.col) == (17, 33)
    np.testing.assert_allclose(host(cupy_bk, gpu.product), a @ b, atol=1e-10)


def test_compressive_attention_matches(
    rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend
) -> None:
    q, k, v = (rng.standard_normal((2, 4, 16, 8)) for _ in range(3))
    beta = rng.standard_normal(4)
    out_c, s_c = compressive_attention(
        q, k, v, empty_memory(2, 4, 8, 8, np.float64, np_bk), beta, backend=np_bk
    )
    out_g, s_g = compressive_attention(
        q, k, v, empty_memory(2, 4, 8, 8, np.float64, cupy_bk), beta, backend=cupy_bk
    )
    out_c, _ = compressive_attention(q, k, v, s_c, beta, backend=np_bk)
    out_g, _ = compressive_attention(q, k, v, s_g, beta, backend=cupy_bk)
    np.testing.assert_allclose(host(cupy_bk, out_g), out_c, rtol=1e-10, atol=1e-12)


def test_routing_matches(rng: np.random.Generator, np_bk: Backend, cupy_bk: Backend) -> None:
    states, queries = random_states(rng, (500, 16)), random_states(rng, (20, 16))
    cpu, gpu = route(states, queries, 8, np_bk), route(states, queries, 8, cupy_bk)
    np.testing.assert_array_equal(host(cupy_bk, gpu.indices), cpu.indices)
    np.testing.assert_allclose(host(cupy_bk, gpu.fidelity), cpu.fidelity, rtol=1e-12)


def test_cuda_tensors_enter_cupy_without_a_copy_and_cupy_arrays_never_reach_numpy(
    np_bk: Backend, cupy_bk: Backend
) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    t = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    arr = cupy_bk.asarray(t)
    assert arr.data.ptr == t.data_ptr()
    with pytest.raises(BackendMismatchError):
        np_bk.asarray(arr)


def test_registry_runs_on_the_gpu_and_returns_device_arrays(
    rng: np.random.Generator, cupy_bk: Backend
) -> None:
    out = operations.run_operation(
        "density.project", {"a": random_hermitian(rng, 4, 5)}, backend=cupy_bk
    )
    assert isinstance(out["rho"], cupy_bk.xp.ndarray)
