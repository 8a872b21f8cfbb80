"""Tokenised datasets and the batches the trainer draws from them.

`TokenStream` (standard training) concatenates documents, each followed by `<|eos|>`, and samples
windows of `seq_len` tokens. `DialogueSet` (dialogue, empathy, function calling) encodes
`<|bos|><|user|> prompt <|assistant|> response <|eos|>` with labels `IGNORE` on everything up to
and including `<|assistant|>`, so only response tokens (and the closing eos) are learned.

Sampling takes a `torch.Generator` that the trainer seeds from `(seed, step)`, so the batch of a
step does not depend on what ran before — which is what makes resumed training exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from model.data import DialogueRecord, Document
from model.errors import DataError
from model.outputs import IGNORE
from model.tokenizer import Tokenizer


@dataclass(frozen=True)
class Batch:
    ids: Tensor  # [B, S]
    attention_mask: Tensor  # [B, S]
    labels: Tensor  # [B, S]
    weights: Tensor | None = None  # [B]

    def to(self, device: torch.device) -> Batch:
        w = self.weights.to(device) if self.weights is not None else None
        return Batch(self.ids.to(device), self.attention_mask.to(device), self.labels.to(device), w)

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


class Dataset(Protocol):
    def sample(self, batch_size: int, generator: torch.Generator) -> Batch: ...

    def batches(self, batch_size: int, limit: int | None = None) -> Iterator[Batch]: ...


class TokenStream:
    def __init__(self, tokens: Tensor, seq_len: int) -> None:
        if tokens.numel() <= seq_len:
            raise DataError(f"{tokens.numel()} tokens do not fill one window of {seq_len}", seq_len)
        self.tokens, self.seq_len = tokens, seq_len  # [N]

    @classmethod
    def from_documents(cls, docs: Sequence[Document], tok: Tokenizer, seq_len: int) -> TokenStream:
        ids: list[int] = []
        for encoded in tok.encode_batch([d.text for d in docs]):
            ids.extend(encoded)
            ids.append(tok.eos_id)
        return cls(torch.tensor(ids, dtype=torch.long), seq_len)

    def _window_batch(self, starts: Tensor) -> Batch:
        offsets = torch.arange(self.seq_len)
        ids = self.tokens[starts.view(-1, 1) + offsets]  # [B, S]
        return Batch(ids, torch.ones_like(ids), ids.clone())

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        high = self.tokens.numel() - self.seq_len + 1
        return self._window_batch(torch.randint(0, high, (batch_size,), generator=generator))

    def batches(self, batch_size: int, limit: int | None = None) -> Iterator[Batch]:
        """Consecutive non-overlapping windows, in order (for evaluation)."""
        starts = torch.arange(0, self.tokens.numel() - self.seq_len + 1, self.seq_len)
        for n, chunk in enumerate(starts.split(batch_size)):
            if limit is not None and n >= limit:
                return
            yield self._window_batch(chunk)


def encode_dialogue(record: DialogueRecord, tok: Tokenizer, seq_len: int) -> tuple[list[int], int]:
    """(ids, index of the first response token), truncated to `seq_len` keeping the prompt's end."""
    prompt = [tok.bos_id, tok.user_id, *tok.encode(record.prompt), tok.assistant_id]
    response = [*tok.encode(record.response), tok.eos_id]
    room = seq_len - min(len(response), seq_len - 2)
    if len(prompt) > room:
        prompt = prompt[len(prompt) - room :]
    ids = (prompt + response)[:seq_len]
    return ids, len(prompt)


def prompt_ids(prompt: str, tok: Tokenizer) -> list[int]:
    """How a dialogue prompt is presented at generation time (matches `encode_dialogue`)."""
    return [tok.bos_id, tok.user_id, *tok.encode(prompt), tok.assistant_id]


class DialogueSet:
    def __init__(self, records: Sequence[DialogueRecord], tok: Tokenizer, seq_len: int) -> None:
        if not records:
            raise DataError("a dialogue dataset needs at least one record", 0)
        self.rows = [encode_dialogue(r, tok, seq_len) for r in records]
        self.weights = torch.tensor([r.weight for r in records], dtype=torch.float32)
        self.pad_id, self.seq_len = tok.pad_id, seq_len

    def _collate(self, index: Sequence[int]) -> Batch:
        width = max(len(self.rows[i][0]) for i in index)
        ids = torch.full((len(index), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full_like(ids, IGNORE)
        for row, i in enumerate(index):
            seq, start = self.rows[i]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
            labels[row, start : len(seq)] = torch.tensor(seq[start:])
        return Batch(ids, mask, labels, self.weights[list(index)])

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        index = torch.randint(0, len(self.rows), (batch_size,), generator=generator)
        return self._collate(index.tolist())

    def batches(self, batch_size: int, limit: int | None = None) -> Iterator[Batch]:
        for n, start in enumerate(range(0, len(self.rows), batch_size)):
            if limit is not None and n >= limit:
                return
            yield self._collate(range(start, min(start + batch_size, len(self.rows))))
