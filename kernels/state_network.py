"""A network of states: a growable store of normalized states, its fidelity graph, and top-k
routing of queries by fidelity.

Standard form (MODEL.md §2): the weight between states ``a`` and ``b`` is the fidelity
``|⟨a,b⟩|² / (‖a‖²‖b‖²)``; a query is routed to the ``k`` stored states of highest fidelity.

Deliberate choices:
- States are normalized when stored, so the fidelity matrix is one product ``|S Qᴴ|²`` scaled by
  the queries' norms; a zero-norm state is :class:`ZeroNormError`.
- The store owns a device buffer that doubles when full (amortized O(1) appends, no host copy).
- Routing returns indices in insertion order and fidelities, best first; the stateless function
  :func:`route` is what the kernel worker calls with an explicit array of states.

Tolerances (tests): fidelities match a float64 reference to 1e-12; the top-k set equals the
reference's (random inputs have no ties).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernels.backend import Array, Backend, resolve_backend
from kernels.errors import EmptyInputError, InvalidParameterError, ShapeError, ZeroNormError
from kernels.validation import checked_numeric


@dataclass(frozen=True)
class Route:
    indices: Array  # int64 [q, k], best first
    fidelity: Array  # [q, k]


def fidelity_matrix(a: Any, b: Any, backend: Backend | str | None = None) -> Array:
    """``F[i, j] = |⟨a_i, b_j⟩|² / (‖a_i‖²‖b_j‖²)`` for ``a[N, n]`` and ``b[M, n]``."""
    bk = resolve_backend(backend)
    a_n = _normalized(bk, a, "a")
    b_n = _normalized(bk, b, "b")
    if a_n.shape[-1] != b_n.shape[-1]:
        raise ShapeError("b", b_n.shape, f"[M, {a_n.shape[-1]}]")
    return bk.xp.abs(bk.xp.conj(a_n) @ b_n.T) ** 2


def route(states: Any, queries: Any, k: int, backend: Backend | str | None = None) -> Route:
    """The ``k`` states of highest fidelity with each query (``queries[q, n]`` or ``[n]``)."""
    bk = resolve_backend(backend)
    xp = bk.xp
    q = bk.asarray(queries)
    fid = fidelity_matrix(q if q.ndim == 2 else q[None], states, bk)  # [q, N]
    count = fid.shape[1]
    if not 1 <= k <= count:
        raise InvalidParameterError("k", k, f"between 1 and the number of states ({count})")
    candidates = xp.argpartition(-fid, k - 1, axis=1)[:, :k]  # [q, k], unordered
    values = xp.take_along_axis(fid, candidates, axis=1)
    order = xp.argsort(-values, axis=1)
    return Route(
        xp.take_along_axis(candidates, order, axis=1).astype(xp.int64),
        xp.take_along_axis(values, order, axis=1),
    )


class StateNetwork:
    """A store of states with a fidelity graph and routing; arrays live on ``backend``."""

    def __init__(
        self, dim: int, dtype: Any = None, capacity: int = 64, backend: Backend | str | None = None
    ) -> None:
        if dim < 1 or capacity < 1:
            raise InvalidParameterError("dim/capacity", (dim, capacity), "positive integers")
        self._bk = resolve_backend(backend)
        self._buffer = self._bk.xp.zeros((capacity, dim), dtype=dtype or self._bk.xp.complex128)
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def states(self) -> Array:
        """The stored (normalized) states ``[N, n]``, a view of the buffer."""
        return self._buffer[: self._size]

    def add(self, states: Any) -> Array:
        """Store ``states[k, n]`` (or one ``[n]``), normalized; returns their indices."""
        arr = self._bk.asarray(states)
        new = _normalized(self._bk, arr if arr.ndim == 2 else arr[None], "states")
        if new.shape[-1] != self._buffer.shape[1]:
            raise ShapeError("states", new.shape, f"[k, {self._buffer.shape[1]}]")
        end = self._size + new.shape[0]
        if end > self._buffer.shape[0]:
            grown = self._bk.xp.zeros(
                (max(end, 2 * self._buffer.shape[0]), new.shape[1]), dtype=self._buffer.dtype
            )
            grown[: self._size] = self.states
            self._buffer = grown
        self._buffer[self._size : end] = new
        first, self._size = self._size, end
        return self._bk.xp.arange(first, end, dtype=self._bk.xp.int64)

    def fidelity_graph(self, threshold: float = 0.0) -> Array:
        """``[N, N]`` fidelities between stored states; no self-loops, edges below ``threshold``
        dropped (set to 0)."""
        if self._size == 0:
            raise EmptyInputError("states", (0, self._buffer.shape[1]))
        xp = self._bk.xp
        fid = xp.abs(xp.conj(self.states) @ self.states.T) ** 2
        fid = xp.where(fid >= threshold, fid, 0)
        return fid * (1 - xp.eye(self._size, dtype=fid.dtype))

    def route(self, queries: Any, k: int) -> Route:
        if self._size == 0:
            raise EmptyInputError("states", (0, self._buffer.shape[1]))
        return route(self.states, queries, k, self._bk)


def _normalized(bk: Backend, x: Any, name: str) -> Array:
    arr = checked_numeric(bk, x, name, min_ndim=2)
    if arr.ndim != 2:
        raise ShapeError(name, arr.shape, "[count, n]")
    norms = bk.xp.sqrt(bk.xp.sum(bk.xp.abs(arr) ** 2, axis=-1, keepdims=True))  # [count, 1]
    zero = int((norms == 0).sum())
    if zero:
        raise ZeroNormError(name, zero)
    return arr / norms
