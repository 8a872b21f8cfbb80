"""The ``train --follow`` view is a fold of job events: specified without a terminal."""

from __future__ import annotations

import json

from cli.progress import View, advance, fields
from sdk.models import ServerEvent


def _event(seq: int, kind: str, **data: object) -> ServerEvent:
    return ServerEvent(str(seq), kind, json.dumps({"type": kind, "seq": seq, **data}))


def test_steps_move_the_bar_and_carry_loss_lr_and_throughput() -> None:
    view = View()
    step = "TrainingStepCompleted"
    events = [_event(1, "JobSubmitted"), _event(2, "JobRunning"),
              _event(3, step, step=1, loss=5.5, lr=1e-3, tokens_per_s=900.0),
              _event(4, step, step=2, loss=5.1, lr=2e-3, tokens_per_s=None)]  # fmt: skip
    for event in events:
        view = advance(view, event)
    assert (view.status, view.step, view.loss, view.lr) == ("RUNNING", 2, 5.1, 2e-3)
    assert view.tokens_per_s == 900.0 and view.last_event_id == "4"
    assert fields(view) == {"status": "RUNNING", "loss": "5.1000", "lr": "2.00e-03", "tps": "900"}


def test_a_failure_ends_with_its_reason() -> None:
    view = advance(View(), _event(9, "JobFailed", reason="out of retries"))
    assert (view.status, view.reason) == ("FAILED", "out of retries")
