"""Decoding for the batcher: one step of a continuous batch, and a static batch.

Continuous batching (iteration-level scheduling, as in Orca/vLLM): rows join and leave between
decode steps. The rows share one KV cache (``model.new_cache``): a row that leaves is indexed out
of it; a row that joins is prefilled on its own tokens and placed in the last filled slots; the
padding columns no live row needs are cut off. Only when a joining row does not fit (a prompt
longer than the filled slots, or no room left for its tokens) is the cache rebuilt by one prefill
of every row's prompt and tokens so far. (It used to be rebuilt on every change: with requests of
different lengths, rows join at almost every step, and each step cost a prefill of every row.)
Positions and masks come from the attention mask, so a row decodes as it would alone.
``decode_step`` (no cache, full recompute each step) is kept as the simple reference. Static
batching runs the engine's cached ``generate`` for the whole batch. All of it blocks: it runs in a
worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _left_padded(engine: GenerationEngine, seqs: list[list[int]], width: int) -> tuple[Any, Any]:
    """``seqs`` left-padded to ``width``: ids and mask ``[B, width]`` on the engine's device."""
    ids = torch.full((len(seqs), width), engine.tokenizer.pad_id, dtype=torch.long)  # [B, W]
    mask = torch.zeros_like(ids)  # [B, W]
    for i, seq in enumerate(seqs):
        ids[i, width - len(seq) :] = torch.tensor(seq)
        mask[i, width - len(seq) :] = 1
    return ids.to(engine.device), mask.to(engine.device)


def _sequence(row: Row) -> list[int]:
    return row.prompt_ids + row.generated


class _Cached:
    """Rows decoding together over one KV cache. Every live row's real tokens fill the last
    ``len(prompt + generated)`` of the slots filled so far (``cache.length``, shared), the slots
    before them are padding, masked out. Built by one prefill of every row. A row joins by a
    prefill of its own tokens, whose keys and values are placed in the last slots of a new batch
    row; a row leaves by being indexed out; padding columns that no live row needs any more are
    cut off the front (``compact``)."""

    def __init__(self, engine: GenerationEngine, rows: list[Row]) -> None:
        self.engine, self.rows = engine, rows
        width = max(len(_sequence(r)) for r in rows)
        need = width + max(r.max_tokens - len(r.generated) for r in rows) + 1
        self.capacity = max(need, min(engine.max_len, 2 * need) + 1)  # room for rows joining
        ids, self.mask = _left_padded(engine, [_sequence(r) for r in rows], width)
        model: Any = engine.model
        self.cache = model.new_cache(len(rows), self.capacity)
        self.logits = self._run(ids)  # [B, V]

    def _run(self, ids: torch.Tensor) -> torch.Tensor:
        out: Any = self.engine.model(ids, self.mask, cache=self.cache)
        return out.logits[:, -1].float()  # [B, V]

    def fits(self, row: Row) -> bool:
        slots = self.cache.length
        remaining = row.max_tokens - len(row.generated)
        return 0 < len(_sequence(row)) <= slots and slots + remaining + 1 <= self.capacity

    def join(self, rows: list[Row]) -> None:
        """Add ``rows`` (each ``fits``): one prefill of their own tokens, placed in new rows of
        the cache at the last filled slots (the same keys and values: positions come from the
        mask, so a row's do not depend on the slots it sits in)."""
        slots, width = self.cache.length, max(len(_sequence(r)) for r in rows)
        ids, mask = _left_padded(self.engine, [_sequence(r) for r in rows], width)
        model: Any = self.engine.model
        theirs = model.new_cache(len(rows), width)
        out: Any = model(ids, mask, cache=theirs)
        cache = self.cache
        for layer in range(len(cache.keys)):
            for store, new in ((cache.keys, theirs.keys), (cache.values, theirs.values)):
                grown = store[layer].new_zeros((len(rows), *store[layer].shape[1:]))
                grown[:, :, slots - width : slots] = new[layer]  # [n, H, width, d]
                store[layer] = torch.cat([store[layer], grown])
        placed = torch.zeros((len(rows), slots), dtype=mask.dtype, device=mask.device)
        placed[:, slots - width :] = mask
        self.mask = torch.cat([self.mask, placed])  # [B + n, slots]
        self.logits = torch.cat([self.logits, out.logits[:, -1].float()])  # [B + n, V]
        self.rows = self.rows + rows

    def _rewrite(self, change: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Replace every layer's keys and values ``[B, H, capacity, d]`` by ``change`` of them."""
        for store in (self.cache.keys, self.cache.values):
            store[:] = [change(tensor) for tensor in store]

    def keep(self, keep: list[int]) -> None:
        """Keep only the rows at these indexes (the others leave the batch)."""
        index = torch.tensor(keep, device=self.mask.device)
        self._rewrite(lambda tensor: tensor.index_select(0, index))
        self.mask = self.mask.index_select(0, index)  # [B', slots]
        self.logits = self.logits.index_select(0, index)  # [B', V]
        self.rows = [self.rows[i] for i in keep]

    def compact(self, at_least: int = 8) -> bool:
        """Cut the padding columns no live row needs off the front, once there are
        ``at_least`` of them (attention costs every filled slot, padding included)."""
        slots, width = self.cache.length, max(len(_sequence(r)) for r in self.rows)
        if slots - width < at_least:
            return False

        def moved(tensor: torch.Tensor) -> torch.Tensor:
            front = torch.zeros_like(tensor)
            front[:, :, :width] = tensor[:, :, slots - width : slots]
            return front

        self._rewrite(moved)
        self.cache.length = width
        self.mask = self.mask[:, slots - width :]
        return True

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
    """The cached batch of one model's scheduler: rows leave it and join it between steps; it is
    rebuilt (one prefill of every row) only when a joining row does not fit its slots."""

    def __init__(self, engine: GenerationEngine) -> None:
        self.engine = engine
        self._batch: _Cached | None = None
        self.rebuilds = self.joins = self.compactions = 0

    @torch.no_grad()
    def step(self, rows: list[Row], generator: torch.Generator) -> None:
        """Advance ``rows`` (the live rows, in any order) by one token each."""
        batch, live = self._batch, {id(r) for r in rows}
        if batch is not None:
            staying = [i for i, r in enumerate(batch.rows) if id(r) in live]
            if len(staying) < len(batch.rows):
                if staying:
                    batch.keep(staying)
                else:
                    batch = None
        if batch is not None:
            self.compactions += batch.compact()
            members = {id(r) for r in batch.rows}
            joining = [r for r in rows if id(r) not in members]
            if not all(batch.fits(r) for r in joining):
                batch = None
            elif joining:
                batch.join(joining)
                self.joins += 1
        if batch is None:
            batch = _Cached(self.engine, list(rows))
            self.rebuilds += 1
        self._batch = batch
        batch.step(generator)
