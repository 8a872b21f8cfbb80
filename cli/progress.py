"""``qllm train --follow``'s live view: a pure fold of job events into what the bar shows, and the
rich ``Progress`` that draws it (step/total, loss, learning rate, tokens/s, ETA).

The fold is separate from the drawing so it can be specified without a terminal; the ETA is
rich's, from the rate at which steps complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sdk.models import ServerEvent

_STATUS_OF = {
    "JobSubmitted": "PENDING", "JobStarting": "STARTING", "JobRunning": "RUNNING",
    "JobRecovering": "RECOVERING", "JobPaused": "PAUSED", "JobResumed": "RUNNING",
    "JobRetrying": "STARTING", "JobCancelRequested": "CANCELLING",
    "JobSucceeded": "SUCCEEDED", "JobFailed": "FAILED", "JobCancelled": "CANCELLED",
}  # fmt: skip


@dataclass(frozen=True)
class View:
    status: str = "PENDING"
    step: int = 0
    loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    reason: str | None = None
    last_event_id: str | None = None


def advance(view: View, event: ServerEvent) -> View:
    """The view after one job event."""
    data = event.json()
    view = replace(view, last_event_id=event.id or view.last_event_id)
    if event.event == "TrainingStepCompleted":
        return replace(view, step=int(data["step"]), loss=data.get("loss"), lr=data.get("lr"),
                       tokens_per_s=data.get("tokens_per_s") or view.tokens_per_s)  # fmt: skip
    if event.event in _STATUS_OF:
        return replace(
            view, status=_STATUS_OF[event.event], reason=data.get("reason") or view.reason
        )
    return view


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def fields(view: View) -> dict[str, Any]:
    return {"status": view.status, "loss": _fmt(view.loss, ".4f"), "lr": _fmt(view.lr, ".2e"),
            "tps": _fmt(view.tokens_per_s, ",.0f")}  # fmt: skip


def follow(events: Iterable[ServerEvent], total: int, console: Console) -> View:
    """Draw the bar while ``events`` arrive; the last view."""
    columns = (TextColumn("[bold]{task.fields[status]:<10}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TextColumn("lr {task.fields[lr]}"),
               TextColumn("{task.fields[tps]} tok/s"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())  # fmt: skip
    view = View()
    with Progress(*columns, console=console, refresh_per_second=8) as bar:
        task = bar.add_task("train", total=total, **fields(view))
        for event in events:
            view = advance(view, event)
            bar.update(task, completed=view.step, **fields(view))
    return view
