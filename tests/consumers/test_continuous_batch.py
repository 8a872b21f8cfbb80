"""The continuous batch: rows joining and leaving between steps decode exactly as they would
alone (greedy); joining costs a prefill of the joining row only, not a rebuild of all, and the
padding columns left by rows that have gone are cut off."""

from __future__ import annotations

from pathlib import Path

import torch

from consumers.inference.decoder import ContinuousBatch, Row
from consumers.inference.registry import load_model
from model import GenerationConfig

PROMPTS = [f"def f{i}(x): return x + {i}" for i in range(30)]


def test_rows_joining_and_leaving_at_every_step_decode_as_they_would_alone() -> None:
    engine = load_model(Path("."), "preset:tiny", "cpu").engine
    lengths = [2 + (7 * i) % 12 for i in range(len(PROMPTS))]  # 2..13 tokens: rows leave apart
    rows = [Row(engine.tokenizer.encode(p, add_bos=True), n, 0.0)
            for p, n in zip(PROMPTS, lengths, strict=True)]  # fmt: skip
    batch, live, waiting = ContinuousBatch(engine), [], list(rows)
    generator = torch.Generator().manual_seed(0)
    while waiting or live:
        if waiting:  # one row joins before every step
            live.append(waiting.pop(0))
        batch.step(live, generator)
        live = [r for r in live if not r.finished]
    for prompt, length, row in zip(PROMPTS, lengths, rows, strict=True):
        alone = engine.generate(prompt, GenerationConfig(max_new_tokens=length, temperature=0.0))
        assert row.text == alone[0].text, prompt
        assert row.finished
    assert batch.joins >= len(PROMPTS) // 2  # most rows joined the running batch...
    assert batch.rebuilds < batch.joins  # ...rather than rebuilding it (the old behaviour)
    assert batch.compactions >= 1  # and padding no live row needed was cut off
