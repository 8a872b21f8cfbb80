"""QRAF state operations: CuPy kernels on a GPU, NumPy on the CPU, behind one interface.

Modules, one per operation (see each docstring for the formulas, choices and tolerances):
``quantization`` (+ ``packing``; torch fake-quantization for training in ``qat``), ``density``,
``error_correction`` (+ ``codes``), ``abft``, ``phase``, ``compressive_memory``,
``state_network``. The backend is resolved once (``backend.default_backend``) and every function
takes ``backend=`` to override it. ``OPERATIONS`` / ``run_operation`` map stable operation names
(``"density.project"`` …, listed in :mod:`kernels.operations`) to these functions for the kernel
worker. Importing this package imports neither torch nor CuPy.
"""

from kernels.abft import AbftReport, AbftResult, checked_matmul
from kernels.backend import NUMPY, Backend, default_backend, resolve_backend
from kernels.codes import CSSCode, ParityCheckCode, repetition_code, surface_code_d3
from kernels.compressive_memory import (
    MemoryState,
    compressive_attention,
    empty_memory,
    memory_read,
    memory_write,
)
from kernels.density import (
    density_from_state,
    l1_coherence,
    nearest_density_matrix,
    project_to_simplex,
    purity,
    von_neumann_entropy,
)
from kernels.error_correction import (
    build_lookup_decoder,
    decode,
    decode_css,
    majority_decode,
    syndrome,
)
from kernels.errors import KernelError
from kernels.operations import OPERATIONS, run_operation
from kernels.packing import pack, unpack
from kernels.phase import align_phase, fidelity
from kernels.quantization import (
    PackedTensor,
    QuantizedTensor,
    dequantize,
    quantization_stats,
    quantize,
    quantize_pack,
)
from kernels.state_network import StateNetwork, fidelity_matrix, route

__all__ = [
    "NUMPY",
    "OPERATIONS",
    "AbftReport",
    "AbftResult",
    "Backend",
    "CSSCode",
    "KernelError",
    "MemoryState",
    "PackedTensor",
    "ParityCheckCode",
    "QuantizedTensor",
    "StateNetwork",
    "align_phase",
    "build_lookup_decoder",
    "checked_matmul",
    "compressive_attention",
    "decode",
    "decode_css",
    "default_backend",
    "density_from_state",
    "dequantize",
    "empty_memory",
    "fidelity",
    "fidelity_matrix",
    "l1_coherence",
    "majority_decode",
    "memory_read",
    "memory_write",
    "nearest_density_matrix",
    "pack",
    "project_to_simplex",
    "purity",
    "quantization_stats",
    "quantize",
    "quantize_pack",
    "repetition_code",
    "resolve_backend",
    "route",
    "run_operation",
    "surface_code_d3",
    "syndrome",
    "unpack",
    "von_neumann_entropy",
]
