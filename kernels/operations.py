"""The operation registry: stable names the kernel worker dispatches commands to.

A command ``{"op": NAME, "arrays": {...}, "params": {...}}`` runs as
``run_operation(NAME, arrays, params, backend)`` and returns a flat ``dict`` of arrays (of the
backend) and plain scalars. Every operation validates its input and raises a
:class:`~kernels.errors.KernelError` subclass on bad input (the worker dead-letters those).

| name | arrays in | params | out |
|---|---|---|---|
| ``quantization.quantize`` | w, [noise] | [scheme, granularity, group_size, …] | codes, scale |
| ``quantization.quantize_pack`` | w, [noise] | as above | packed, scale, row_length |
| ``quantization.dequantize`` | codes, scale — or packed, scale | scheme, [row_length] | w |
| ``quantization.pack`` | codes | scheme | packed |
| ``quantization.unpack`` | packed | scheme, row_length | codes |
| ``quantization.stats`` | w, w_hat | — | mse, max_abs_error, relative_error, sqnr_db |
| ``density.from_state`` | psi | — | rho |
| ``density.project`` | a | [hermitian_rtol] | rho |
| ``density.purity`` / ``.entropy`` / ``.coherence`` | rho | [hermitian_rtol] | same name |
| ``ecc.syndrome`` | words, [check_matrix] | [code, n] | syndrome, index |
| ``ecc.decode`` | words, [check_matrix] | [code, n] | corrected, correction, syndrome, decodable |
| ``ecc.majority`` | words | — | bits |
| ``abft.matmul`` | a, b | — | product, detected, row, col, delta, in_checksum |
| ``phase.align`` | psi, reference | — | aligned, fidelity |
| ``phase.fidelity`` | psi, reference | — | fidelity |
| ``memory.read`` | q, memory, norm | — | output |
| ``memory.write`` | k, v, memory, norm | — | memory, norm |
| ``memory.attend`` | q, k, v, memory, norm, beta | [causal] | output, memory, norm |
| ``network.route`` | states, queries | k | indices, fidelity |
| ``network.graph`` | states | [threshold] | fidelity |

Quantization params (scheme, granularity, group_size, rounding, seed) are optional, with the
defaults of :func:`kernels.quantization.quantize` (``quantize_pack`` defaults to int4).

Codes for ``ecc.*`` without a ``check_matrix``: ``code`` = ``"repetition"`` (with ``n``),
``"surface_d3_x"`` (the X checks, which see Z errors) or ``"surface_d3_z"`` (the Z checks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kernels import abft, density, error_correction, packing, phase, quantization, state_network
from kernels import compressive_memory as cm
from kernels.backend import Backend, resolve_backend
from kernels.codes import ParityCheckCode, repetition_code, surface_code_d3
from kernels.errors import InvalidParameterError, UnknownOperationError

Arrays = Mapping[str, Any]
Params = Mapping[str, Any]
Operation = Callable[[Arrays, Params, Backend], dict[str, Any]]


def run_operation(
    name: str, arrays: Arrays, params: Params | None = None, backend: Backend | str | None = None
) -> dict[str, Any]:
    """Run the operation registered under ``name``."""
    if name not in OPERATIONS:
        raise UnknownOperationError(name, tuple(sorted(OPERATIONS)))
    return OPERATIONS[name](arrays, params or {}, resolve_backend(backend))


def _need(arrays: Arrays, key: str) -> Any:
    if key not in arrays:
        raise InvalidParameterError(key, None, "a required input array")
    return arrays[key]


def _quantize_kwargs(p: Params) -> dict[str, Any]:
    keys = ("scheme", "granularity", "group_size", "rounding", "seed")
    return {k: p[k] for k in keys if k in p}


def _quantize(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    q = quantization.quantize(
        _need(a, "w"), noise=a.get("noise"), backend=bk, **_quantize_kwargs(p)
    )
    return {"codes": q.codes, "scale": q.scale}


def _quantize_pack(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    kwargs = {"scheme": "int4", **_quantize_kwargs(p)}
    q = quantization.quantize_pack(_need(a, "w"), noise=a.get("noise"), backend=bk, **kwargs)
    return {"packed": q.data, "scale": q.scale, "row_length": q.shape[-1]}


def _dequantize(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    scheme = p.get("scheme", "int8")
    scale = _need(a, "scale")
    if "packed" in a:
        codes = packing.unpack(a["packed"], scheme, int(_need(p, "row_length")), bk)
    else:
        codes = _need(a, "codes")
    return {"w": quantization.dequantize(quantization.QuantizedTensor(codes, scale, scheme), bk)}


def _stats(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    s = quantization.quantization_stats(_need(a, "w"), _need(a, "w_hat"), bk)
    return {k: getattr(s, k) for k in ("mse", "max_abs_error", "relative_error", "sqnr_db")}


def _code(a: Arrays, p: Params) -> ParityCheckCode:
    if "check_matrix" in a:
        return ParityCheckCode.from_matrix(a["check_matrix"])
    name = p.get("code")
    if name == "repetition":
        return repetition_code(int(_need(p, "n")))
    if name in ("surface_d3_x", "surface_d3_z"):
        code = surface_code_d3()
        return code.x_checks if name == "surface_d3_x" else code.z_checks
    raise InvalidParameterError("code", name, "'repetition', 'surface_d3_x', 'surface_d3_z'")


def _syndrome(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    s, index = error_correction.syndrome(_code(a, p), _need(a, "words"), bk)
    return {"syndrome": s, "index": index}


def _decode(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    decoder = error_correction.cached_decoder(_code(a, p))
    d = error_correction.decode(decoder, _need(a, "words"), bk)
    return {
        "corrected": d.corrected,
        "correction": d.correction,
        "syndrome": d.syndrome,
        "decodable": d.decodable,
    }


def _abft(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    r = abft.checked_matmul(_need(a, "a"), _need(a, "b"), backend=bk)
    rep = r.report
    return {
        "product": r.product,
        "detected": rep.detected,
        "row": rep.row,
        "col": rep.col,
        "delta": rep.delta,
        "in_checksum": rep.in_checksum,
    }


def _align(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    r = phase.align_phase(_need(a, "psi"), _need(a, "reference"), bk)
    return {"aligned": r.aligned, "fidelity": r.fidelity}


def _state(a: Arrays) -> cm.MemoryState:
    return cm.MemoryState(_need(a, "memory"), _need(a, "norm"))


def _attend(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    out, s = cm.compressive_attention(
        _need(a, "q"), _need(a, "k"), _need(a, "v"), _state(a), _need(a, "beta"),
        causal=bool(p.get("causal", True)), backend=bk,
    )  # fmt: skip
    return {"output": out, "memory": s.memory, "norm": s.norm}


def _write(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    s = cm.memory_write(_state(a), _need(a, "k"), _need(a, "v"), bk)
    return {"memory": s.memory, "norm": s.norm}


def _route(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    r = state_network.route(_need(a, "states"), _need(a, "queries"), int(_need(p, "k")), bk)
    return {"indices": r.indices, "fidelity": r.fidelity}


def _graph(a: Arrays, p: Params, bk: Backend) -> dict[str, Any]:
    net = state_network.StateNetwork(
        int(bk.asarray(_need(a, "states")).shape[-1]), dtype=bk.asarray(a["states"]).dtype,
        backend=bk,
    )  # fmt: skip
    net.add(a["states"])
    return {"fidelity": net.fidelity_graph(float(p.get("threshold", 0.0)))}


def _rtol(p: Params) -> float | None:
    value = p.get("hermitian_rtol")
    return None if value is None else float(value)


OPERATIONS: dict[str, Operation] = {
    "quantization.quantize": _quantize,
    "quantization.quantize_pack": _quantize_pack,
    "quantization.dequantize": _dequantize,
    "quantization.pack": lambda a, p, bk: {
        "packed": packing.pack(_need(a, "codes"), p.get("scheme", "int8"), bk)
    },
    "quantization.unpack": lambda a, p, bk: {
        "codes": packing.unpack(
            _need(a, "packed"), p.get("scheme", "int8"), int(_need(p, "row_length")), bk
        )
    },
    "quantization.stats": _stats,
    "density.from_state": lambda a, p, bk: {"rho": density.density_from_state(_need(a, "psi"), bk)},
    "density.project": lambda a, p, bk: {
        "rho": density.nearest_density_matrix(_need(a, "a"), _rtol(p), bk)
    },
    "density.purity": lambda a, p, bk: {"purity": density.purity(_need(a, "rho"), _rtol(p), bk)},
    "density.entropy": lambda a, p, bk: {
        "entropy": density.von_neumann_entropy(_need(a, "rho"), _rtol(p), bk)
    },
    "density.coherence": lambda a, p, bk: {
        "coherence": density.l1_coherence(_need(a, "rho"), _rtol(p), bk)
    },
    "ecc.syndrome": _syndrome,
    "ecc.decode": _decode,
    "ecc.majority": lambda a, p, bk: {
        "bits": error_correction.majority_decode(_need(a, "words"), bk)
    },
    "abft.matmul": _abft,
    "phase.align": _align,
    "phase.fidelity": lambda a, p, bk: {
        "fidelity": phase.fidelity(_need(a, "psi"), _need(a, "reference"), bk)
    },
    "memory.read": lambda a, p, bk: {"output": cm.memory_read(_state(a), _need(a, "q"), bk)},
    "memory.write": _write,
    "memory.attend": _attend,
    "network.route": _route,
    "network.graph": _graph,
}
