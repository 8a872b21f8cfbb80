"""The operation registry: every documented name runs and returns its documented outputs."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kernels import operations
from kernels.backend import Backend
from kernels.density import nearest_density_matrix
from kernels.errors import InvalidParameterError, KernelError, UnknownOperationError
from kernels.operations import OPERATIONS, run_operation
from tests.kernels.reference import random_hermitian, random_states


def documented_operations() -> dict[str, set[str]]:
    """Operation name → documented outputs, parsed from the registry's docstring table."""
    table: dict[str, set[str]] = {}
    for line in (operations.__doc__ or "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("``"):
            names = re.findall(r"``([\w.]+)``", cells[0])
            base = names[0].rsplit(".", 1)[0]
            full = [names[0]] + [base + n for n in names[1:]]  # ``density.purity`` / ``.entropy``
            outs = {o.strip() for o in cells[3].split(",")}
            for name in full:
                table[name] = {name.rsplit(".", 1)[1]} if outs == {"same name"} else outs
    return table


def sample_inputs(rng: np.random.Generator) -> dict[str, tuple[dict, dict]]:
    w = rng.standard_normal((4, 128)).astype(np.float32)
    rho = nearest_density_matrix(random_hermitian(rng, 2, 3))
    q = rng.standard_normal((1, 2, 3, 4))
    mem = {"memory": np.zeros((1, 2, 4, 4)), "norm": np.zeros((1, 2, 4))}
    states = random_states(rng, (5, 3))
    pair = {"psi": random_states(rng, (2, 3)), "reference": random_states(rng, (3,))}
    codes = {"codes": np.ones((2, 4), np.int8), "scale": np.ones((2, 1))}
    packed = {"packed": np.array([[6]], np.uint8)}
    return {
        "quantization.quantize": ({"w": w}, {"scheme": "int8"}),
        "quantization.quantize_pack": ({"w": w}, {"scheme": "int4", "granularity": "group"}),
        "quantization.dequantize": (codes, {}),
        "quantization.pack": ({"codes": np.array([[1, -1, 0]], np.int8)}, {"scheme": "ternary"}),
        "quantization.unpack": (packed, {"scheme": "ternary", "row_length": 3}),
        "quantization.stats": ({"w": w, "w_hat": w * 0.9}, {}),
        "density.from_state": ({"psi": random_states(rng, (2, 3))}, {}),
        "density.project": ({"a": random_hermitian(rng, 2, 3)}, {}),
        "density.purity": ({"rho": rho}, {}),
        "density.entropy": ({"rho": rho}, {}),
        "density.coherence": ({"rho": rho}, {}),
        "ecc.syndrome": ({"words": np.array([[1, 0, 0]])}, {"code": "repetition", "n": 3}),
        "ecc.decode": ({"words": np.eye(9, dtype=np.uint8)}, {"code": "surface_d3_z"}),
        "ecc.majority": ({"words": np.array([[1, 1, 0]])}, {}),
        "abft.matmul": ({"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((4, 2))}, {}),
        "phase.align": (pair, {}),
        "phase.fidelity": (pair, {}),
        "memory.read": ({"q": q, **mem}, {}),
        "memory.write": ({"k": q, "v": q, **mem}, {}),
        "memory.attend": ({"q": q, "k": q, "v": q, "beta": np.zeros(2), **mem}, {"causal": True}),
        "network.route": ({"states": states, "queries": states[:2]}, {"k": 2}),
        "network.graph": ({"states": states}, {"threshold": 0.1}),
    }  # fmt: skip


def test_the_documented_table_lists_exactly_the_registered_operations() -> None:
    assert set(documented_operations()) == set(OPERATIONS)


def test_every_operation_returns_its_documented_outputs(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    inputs = sample_inputs(rng)
    assert set(inputs) == set(OPERATIONS)
    for name, outputs in documented_operations().items():
        arrays, params = inputs[name]
        result = run_operation(name, arrays, params, np_bk)
        assert set(result) == outputs, name


def test_registry_results_equal_the_direct_calls(rng: np.random.Generator, np_bk: Backend) -> None:
    a = random_hermitian(rng, 3, 4)
    out = run_operation("density.project", {"a": a}, backend=np_bk)
    np.testing.assert_array_equal(out["rho"], nearest_density_matrix(a, backend=np_bk))
    decoded = run_operation(
        "ecc.decode", {"words": np.array([[0, 1, 0]])}, {"code": "repetition", "n": 3}, np_bk
    )
    assert decoded["corrected"].tolist() == [[0, 0, 0]]  # fmt: skip
    h = np.array([[1, 1, 0], [0, 1, 1]])
    by_matrix = run_operation(
        "ecc.syndrome", {"words": np.array([[0, 1, 0]]), "check_matrix": h}, {}, np_bk
    )
    assert by_matrix["syndrome"].tolist() == [[1, 1]]
    assert by_matrix["index"].tolist() == [3]


def test_unknown_operations_and_missing_inputs_are_typed_errors(np_bk: Backend) -> None:
    with pytest.raises(UnknownOperationError) as info:
        run_operation("density.diagonalize", {}, backend=np_bk)
    assert "density.project" in info.value.known and "density.diagonalize" in str(info.value)
    with pytest.raises(InvalidParameterError):
        run_operation("density.project", {}, backend=np_bk)
    with pytest.raises(InvalidParameterError):
        run_operation("ecc.syndrome", {"words": np.ones((1, 3), int)}, {"code": "golay"}, np_bk)
    with pytest.raises(KernelError):
        run_operation("phase.align", {"psi": np.ones(3), "reference": np.ones(2)}, backend=np_bk)
