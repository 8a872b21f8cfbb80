"""State network: fidelity graph and top-k routing against a loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.backend import Backend
from kernels.errors import EmptyInputError, InvalidParameterError, ShapeError, ZeroNormError
from kernels.state_network import StateNetwork, fidelity_matrix, route
from tests.kernels.reference import phase_reference, random_states


def test_routing_matches_the_reference_top_k(rng: np.random.Generator, np_bk: Backend) -> None:
    states, queries = random_states(rng, (40, 8)), random_states(rng, (6, 8))
    r = route(states, queries, 5, np_bk)
    for i, query in enumerate(queries):
        fids = np.array([phase_reference(query, s)[1] for s in states])
        best = np.argsort(-fids)[:5]
        np.testing.assert_array_equal(r.indices[i], best)
        np.testing.assert_allclose(r.fidelity[i], fids[best], rtol=1e-12)


def test_a_stored_state_routes_to_itself_whatever_its_phase_and_scale(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    net = StateNetwork(6, capacity=4, backend=np_bk)
    states = random_states(rng, (10, 6))
    np.testing.assert_array_equal(net.add(states), np.arange(10))  # grows past capacity
    query = states[7] * 3.0 * np.exp(1j * rng.uniform(0, 2 * np.pi))
    r = net.route(query, 1)
    assert r.indices.tolist() == [[7]]
    assert float(r.fidelity[0, 0]) == pytest.approx(1.0, rel=1e-12)


def test_fidelity_graph_is_symmetric_without_self_loops_and_thresholded(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    net = StateNetwork(3, backend=np_bk)
    states = random_states(rng, (12, 3))
    net.add(states)
    full = fidelity_matrix(states, states, np_bk)
    graph = net.fidelity_graph(threshold=0.5)
    np.testing.assert_allclose(graph, graph.T, rtol=1e-12)
    assert not np.diag(graph).any()
    off = ~np.eye(12, dtype=bool)
    np.testing.assert_allclose(graph[off], np.where(full >= 0.5, full, 0)[off], rtol=1e-12)
    assert ((full >= 0) & (full <= 1 + 1e-12)).all()


def test_invalid_routing_requests_raise_typed_errors(
    rng: np.random.Generator, np_bk: Backend
) -> None:
    net = StateNetwork(4, backend=np_bk)
    with pytest.raises(EmptyInputError):
        net.route(np.ones(4), 1)
    net.add(random_states(rng, (3, 4)))
    with pytest.raises(InvalidParameterError):
        net.route(np.ones(4), 4)
    with pytest.raises(InvalidParameterError):
        net.route(np.ones(4), 0)
    with pytest.raises(ShapeError):
        net.add(np.ones(5))
    with pytest.raises(ZeroNormError):
        net.add(np.zeros(4))
    with pytest.raises(ZeroNormError):
        net.route(np.zeros(4), 1)
