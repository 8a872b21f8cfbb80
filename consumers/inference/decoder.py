"""Decoding for the batcher: one step of a continuous batch, and a static batch.

Continuous batching (iteration-level scheduling, as in Orca/vLLM): rows join and leave between
decode steps. Each step recomputes the left-padded batch without a KV cache (the engine's cache
is sized per batch, so rows of different ages cannot share it); positions and masks come from
the attention mask, so a row decodes as it would alone. Static batching runs the engine's cached
``generate`` for the whole batch. Both run in a worker thread (they block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from model import GenerationConfig, GenerationEngine


@dataclass
class Row:
    """One generation in a continuous batch."""

    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    generated: list[int] = field(default_factory=list)
    text: str = ""
    finished: bool = False


def room(engine: GenerationEngine, prompt_ids: list[int], max_tokens: int) -> bool:
    return len(prompt_ids) > 0 and len(prompt_ids) + max_tokens <= engine.max_len


@torch.no_grad()
def decode_step(engine: GenerationEngine, rows: list[Row], generator: torch.Generator) -> None:
    """Advance every unfinished row by one token."""
    live = [r for r in rows if not r.finished]
    if not live:
        return
    seqs = [r.prompt_ids + r.generated for r in live]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(live), width), engine.tokenizer.pad_id, dtype=torch.long)  # [B, L]
    mask = torch.zeros_like(ids)  # [B, L]
    for i, seq in enumerate(seqs):
        ids[i, width - len(seq) :] = torch.tensor(seq)
        mask[i, width - len(seq) :] = 1
    out: Any = engine.model(ids.to(engine.device), mask.to(engine.device))
    logits = out.logits[:, -1].float()  # [B, V]
    for row, token in zip(live, _choose(logits, live, generator), strict=True):
        _extend(engine, row, token)


def _choose(logits: torch.Tensor, rows: list[Row], generator: torch.Generator) -> list[int]:
    tokens = []
    for i, row in enumerate(rows):
        if row.temperature <= 0:
            tokens.append(int(logits[i].argmax()))
        else:
            probs = torch.softmax(logits[i] / row.temperature, dim=-1)  # [V]
            tokens.append(int(torch.multinomial(probs.cpu(), 1, generator=generator)))
    return tokens


def _extend(engine: GenerationEngine, row: Row, token: int) -> None:
    if token == engine.tokenizer.eos_id:
        row.finished = True
        return
    row.generated.append(token)
    row.text = engine.tokenizer.decode(row.generated)
    row.finished = len(row.generated) >= row.max_tokens


def static_batch(engine: GenerationEngine, prompts: list[str], rows: list[Row]) -> None:
    """Generate all rows at once with the engine's KV cache (same temperature per call)."""
    config = GenerationConfig(
        max_new_tokens=max(r.max_tokens for r in rows), temperature=rows[0].temperature
    )
    for row, result in zip(rows, engine.generate(prompts, config), strict=True):
        row.generated = list(result.token_ids[: row.max_tokens])
        row.text = engine.tokenizer.decode(row.generated)
        row.finished = True
