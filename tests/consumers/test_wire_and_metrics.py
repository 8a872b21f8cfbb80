"""The batcher's header protocol, batch metrics and the recovery reason (pure)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from consumers.errors import Poison
from consumers.inference.batcher import BatchMetrics
from consumers.inference.wire import chat_prompt, headers_for, parse_headers
from consumers.training.worker import _recovery_reason


def test_headers_round_trip_op_stream_and_deadline() -> None:
    intent = parse_headers(headers_for("chat", stream=True, deadline_s=5.0))
    assert intent.op == "chat" and intent.stream
    assert intent.deadline is not None and 0 < intent.deadline - time.time() <= 5.0


def test_a_message_without_headers_is_a_plain_generation() -> None:
    intent = parse_headers(None)
    assert (intent.op, intent.stream, intent.deadline) == ("generate", False, None)


def test_an_unknown_operation_is_poison() -> None:
    with pytest.raises(Poison, match="qllm-op"):
        parse_headers([("qllm-op", b"translate")])


def test_chat_messages_become_a_prompt_ending_where_the_assistant_speaks() -> None:
    prompt = chat_prompt('[{"role": "user", "content": "hi"}]')
    assert prompt == "<|user|>hi<|assistant|>"
    with pytest.raises(Poison):
        chat_prompt("not json")


def test_batch_metrics_keep_a_histogram_of_sizes() -> None:
    metrics = BatchMetrics()
    for size in (1, 4, 4, 8):
        metrics.observe(size)
    assert metrics.sizes[4] == 2 and metrics.max_size == 8 and metrics.mean_size == 17 / 4


def test_recovery_reason_names_the_checkpoint_and_the_redone_steps() -> None:
    reason = _recovery_reason("w1", Path("/x/step-00000004"), 7)
    assert reason == (
        "worker w1 lost; resuming from checkpoint at step 4; "
        "steps 5..7 are redone and not recorded again"
    )
    assert _recovery_reason("w1", None, 0) == "worker w1 lost; resuming from checkpoint at step 0"
