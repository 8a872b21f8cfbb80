"""The QRAF state's memory as text, and the prompt of ``enhance``.

Definition (what ``POST /api/v1/qraf/enhance`` means): text generation enhanced by state
memory is generation whose prompt is preceded by what the state remembers — the results of the
newest ``memory_items`` operations applied to it (or failed on it), read from its event stream
in the event store, one line each (``[memory] quantize: bits=4 mse=0.0012 …``). The model then
continues the user's prompt with those facts in its context. The state itself is not changed.

Deliberate limit: the kernel worker's compressive-memory arrays live in that worker's state
folder, out of the API's reach (the API never reads worker storage); the event stream is the
state's durable, shared memory, so that is what is recalled.
"""

from __future__ import annotations

from api.qraf_models import OperationRecord
from schemas.records import Event
from schemas.states import StateOperationApplied, StateOperationFailed


def operations(events: list[Event]) -> list[OperationRecord]:
    out = []
    for e in events:
        if isinstance(e, StateOperationApplied):
            metrics = {k: float(v) for k, v in e.metrics.items()}
            out.append(OperationRecord(seq=e.seq, operation=e.operation, outcome="applied",
                                       metrics=metrics, reason=None, at=e.occurred_at))  # fmt: skip
        elif isinstance(e, StateOperationFailed):
            out.append(OperationRecord(seq=e.seq, operation=e.operation, outcome="failed",
                                       metrics={}, reason=e.reason, at=e.occurred_at))  # fmt: skip
    return out


def memory_lines(records: list[OperationRecord], items: int) -> list[str]:
    lines = []
    for r in records[-items:] if items else []:
        facts = " ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items()))
        lines.append(f"[memory] {r.operation}: {facts or r.reason or r.outcome}")
    return lines


def enhanced_prompt(lines: list[str], prompt: str) -> str:
    return "\n".join([*lines, prompt]) if lines else prompt
