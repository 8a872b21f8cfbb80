"""Decoding for the batcher: one step of a continuous batch, and a static batch.

Continuous batching (iteration-level scheduling, as in Orca/vLLM): rows join and leave between
decode steps. The rows share one KV cache (``model.new_cache``); when the membership changes
(a row joins, is dropped, or finished rows outnumber live ones) the cache is rebuilt by one
prefill of every row's prompt and tokens so far, left-padded, and cached decoding goes on.
Positions and masks come from the attention mask, so a row decodes as it would alone.
``decode_step`` (no cache, full recompute each step) is kept as the simple reference. Static
batching runs the engine's cached ``generate`` for the whole batch. All of it blocks: it runs in a
worker thread.
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
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    stop: tuple[str, ...] = ()  # the text ends before the first of these
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
        probs = _probabilities(logits[i], row.temperature)
        if probs is None:
            tokens.append(int(logits[i].argmax()))
        else:
            kept = _filtered(probs, row)  # [V]
            tokens.append(int(torch.multinomial(kept.cpu(), 1, generator=generator)))
    return tokens


def _probabilities(logits: torch.Tensor, temperature: float) -> torch.Tensor | None:
    """``softmax(logits / temperature)`` [V], or ``None`` for greedy: temperature 0, or one so
    small that logits / temperature overflows (NaN probabilities), whose limit is greedy too."""
    if temperature <= 0:
        return None
    probs = torch.softmax(logits / temperature, dim=-1)
    return probs if bool(torch.isfinite(probs).all()) else None


def _filtered(probs: torch.Tensor, row: Row) -> torch.Tensor:
    """``probs`` [V] restricted to the top-k tokens and the top-p nucleus (unnormalised)."""
    if row.top_k > 0 and row.top_k < probs.numel():
        kth = torch.topk(probs, row.top_k).values[-1]
        probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
    if row.top_p < 1.0:
        ordered, index = torch.sort(probs, descending=True)  # [V], [V]
        before = torch.cumsum(ordered, 0) - ordered  # [V] mass of the more likely tokens
        keep = before < row.top_p * ordered.sum()
        keep[0] = True  # the most likely token stays (a top_p that rounds to 0 keeps none)
        probs = torch.zeros_like(probs).scatter(0, index, ordered * keep)
    return probs


def _extend(engine: GenerationEngine, row: Row, token: int) -> None:
    if token == engine.tokenizer.eos_id:
        row.finished = True
        return
    row.generated.append(token)
    row.text = engine.tokenizer.decode(row.generated)
    row.finished = len(row.generated) >= row.max_tokens
    cuts = [i for i in (row.text.find(s) for s in row.stop if s) if i >= 0]
    if cuts:
        row.text, row.finished = row.text[: min(cuts)], True


def static_batch(engine: GenerationEngine, prompts: list[str], rows: list[Row]) -> None:
    """Generate all rows at once with the engine's KV cache (same temperature per call)."""
    config = GenerationConfig(
        max_new_tokens=max(r.max_tokens for r in rows), temperature=rows[0].temperature
    )
    for row, result in zip(rows, engine.generate(prompts, config), strict=True):
        row.generated = list(result.token_ids[: row.max_tokens])
        row.text = engine.tokenizer.decode(row.generated)
        row.finished = True


class _Cached:
    """Rows decoding together over one KV cache, from one prefill."""

    def __init__(self, engine: GenerationEngine, rows: list[Row]) -> None:
        self.engine, self.rows = engine, rows
        seqs = [r.prompt_ids + r.generated for r in rows]
        width = max(len(s) for s in seqs)
        remaining = max(r.max_tokens - len(r.generated) for r in rows)
        ids = torch.full((len(rows), width), engine.tokenizer.pad_id, dtype=torch.long)  # [B, L]
        mask = torch.zeros_like(ids)  # [B, L]
        for i, seq in enumerate(seqs):
            ids[i, width - len(seq) :] = torch.tensor(seq)
            mask[i, width - len(seq) :] = 1
        model: Any = engine.model
        self.cache = model.new_cache(len(rows), width + remaining + 1)
        self.mask = mask.to(engine.device)
        self.logits = self._run(ids.to(engine.device))  # [B, V]

    def _run(self, ids: torch.Tensor) -> torch.Tensor:
        out: Any = self.engine.model(ids, self.mask, cache=self.cache)
        return out.logits[:, -1].float()  # [B, V]

    def step(self, generator: torch.Generator) -> None:
        tokens = _choose(self.logits, self.rows, generator)
        for row, token in zip(self.rows, tokens, strict=True):
            if not row.finished:
                _extend(self.engine, row, token)
        if all(r.finished for r in self.rows):
            return
        new = torch.tensor(tokens, device=self.engine.device).view(-1, 1)  # [B, 1]
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        self.logits = self._run(new)


class ContinuousBatch:
    """The cached batch of one model's scheduler; rebuilt when its membership changes."""

    def __init__(self, engine: GenerationEngine) -> None:
        self.engine = engine
        self._batch: _Cached | None = None
        self.rebuilds = 0

    @torch.no_grad()
    def step(self, rows: list[Row], generator: torch.Generator) -> None:
        """Advance ``rows`` (the live rows, in any order) by one token each."""
        if self._stale(rows):
            self._batch = _Cached(self.engine, list(rows))
            self.rebuilds += 1
        assert self._batch is not None
        self._batch.step(generator)

    def _stale(self, rows: list[Row]) -> bool:
        if self._batch is None:
            return True
        members = {id(r) for r in self._batch.rows}
        live = {id(r) for r in rows}
        finished = sum(r.finished for r in self._batch.rows)
        dropped = any(id(r) not in live and not r.finished for r in self._batch.rows)
        return not live <= members or dropped or finished > len(rows)
