"""Generation engine: batched decoding with a KV cache, streaming, embeddings, JSON output.

- Prompts of different lengths are left-padded; positions and masks come from the attention mask,
  so every row decodes exactly as it would alone. Each row stops on its own (a stop token, a stop
  sequence, or `max_new_tokens`); the batch runs until every row has stopped.
- With `use_cache=True` (the default) the prompt is run once and each new token attends to the
  cached keys and values; with `use_cache=False` the whole sequence is recomputed per token. Both
  give the same tokens (resonance attention halts per query row; see `model.attention`).
- `prompt + max_new_tokens` must fit `config.max_seq_len`, else `GenerationError`.
- Denormal floats are flushed to zero (`torch.set_flush_denormal(True)`, process-wide, set when
  an engine is built): resonance attention sharpens its softmax up to β≈2.6 and the vocabulary
  head's probabilities underflow, and on x86 CPUs arithmetic on the resulting denormals ran
  10× slower. Values below 1.2e-38 become 0; nothing measurable changes otherwise.
- `embed` mean-pools the final hidden states over real tokens; `similarity` is their cosine.
- `generate_json` decodes under a JSON-schema constraint (`model.extensions.structured`), so the
  result always parses and validates. Its length is bounded by the schema, not by
  `max_seq_len`: a long document may run past the trained context (QLLM's positional code is
  defined for every position; the baseline reuses its last position embedding) rather than be
  cut off invalid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.batches import prompt_ids
from model.config import ModelConfig
from model.errors import GenerationError
from model.extensions.structured import JsonConstraint
from model.outputs import ModelOutput
from model.sampling import GenerationConfig, apply_repetition_penalty, choose
from model.tokenizer import Tokenizer

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class GenerationResult:
    text: str
    token_ids: tuple[int, ...]
    finish_reason: FinishReason
    prompt_tokens: int


@dataclass
class _Row:
    """Mutable progress of one row inside the engine (never handed out)."""

    prompt_tokens: int
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    reason: FinishReason | None = None

    def result(self) -> GenerationResult:
        return GenerationResult(
            self.text, tuple(self.tokens), self.reason or "length", self.prompt_tokens
        )


class _Session:
    """The growing token matrix, its mask and (optionally) the KV cache."""

    def __init__(
        self, model: Any, ids: Tensor, mask: Tensor, config: GenerationConfig, image: Tensor | None
    ) -> None:
        self.model, self.ids, self.mask, self.image = model, ids, mask, image  # [B, L]
        self.cache = (
            model.new_cache(ids.shape[0], ids.shape[1] + config.max_new_tokens)
            if config.use_cache
            else None
        )
        self.logits = self._run(ids)  # [B, V]

    def _run(self, new_ids: Tensor) -> Tensor:
        ids = new_ids if self.cache is not None else self.ids
        out: ModelOutput = self.model(ids, self.mask, cache=self.cache, image_features=self.image)
        return out.logits[:, -1].float()  # [B, V]

    def push(self, tokens: Tensor) -> None:
        """Append one token per row `[B]` and compute the next logits."""
        self.ids = torch.cat([self.ids, tokens.view(-1, 1)], dim=1)  # [B, L+1]
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        self.logits = self._run(tokens.view(-1, 1))


class GenerationEngine:
    def __init__(
        self, model: nn.Module, tokenizer: Tokenizer, device: str | torch.device | None = None
    ) -> None:
        self.device = (
            torch.device(device) if device is not None else next(model.parameters()).device
        )
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        torch.set_flush_denormal(True)  # see the module docstring
        self.config = cast(ModelConfig, model.config)
        self.max_len = self.config.max_seq_len

    # -- public ------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompts: str | Sequence[str],
        config: GenerationConfig | None = None,
        image_features: Tensor | None = None,
    ) -> list[GenerationResult]:
        """One result per prompt (a single string gives a one-element list)."""
        batch = [prompts] if isinstance(prompts, str) else list(prompts)
        encoded = [self.tokenizer.encode(p, add_bos=True) for p in batch]
        return self.generate_ids(encoded, config or GenerationConfig(), image_features)

    def chat(
        self, prompts: str | Sequence[str], config: GenerationConfig | None = None
    ) -> list[GenerationResult]:
        """Reply to user prompts framed as in dialogue training (`<|user|> … <|assistant|>`)."""
        batch = [prompts] if isinstance(prompts, str) else list(prompts)
        encoded = [prompt_ids(p, self.tokenizer) for p in batch]
        return self.generate_ids(encoded, config or GenerationConfig())

    @torch.no_grad()
    def generate_ids(
        self,
        prompts: Sequence[Sequence[int]],
        config: GenerationConfig,
        image_features: Tensor | None = None,
    ) -> list[GenerationResult]:
        final: list[_Row] = []
        for rows in self._decode(prompts, config, image_features):
            final = rows
        return [r.result() for r in final]

    @torch.no_grad()
    def stream(self, prompt: str, config: GenerationConfig | None = None) -> Iterator[str]:
        """Yield the text of one completion piece by piece; the pieces join to `generate`'s text.

        Text that could still turn out to begin a stop sequence, or an incomplete UTF-8 character,
        is held back until it is decided."""
        config = config or GenerationConfig()
        sent = 0
        for rows in self._decode([self.tokenizer.encode(prompt, add_bos=True)], config, None):
            row = rows[0]
            ready = (
                row.text
                if row.reason
                else row.text[: len(row.text) - _holdback(row.text, config.stop_sequences)]
            )
            if len(ready) > sent:
                yield ready[sent:]
                sent = len(ready)

    @torch.no_grad()
    def embed(self, texts: Sequence[str]) -> Tensor:
        """Mean-pooled final hidden states `[N, D]` (float32, on the CPU)."""
        vectors = []
        for text in texts:
            ids = self.tokenizer.encode(text, add_bos=True)[: self.max_len]
            out: ModelOutput = self.model(torch.tensor([ids], device=self.device))
            vectors.append(out.hidden_states[-1][0].float().mean(dim=0).cpu())  # [D]
        return torch.stack(vectors)  # [N, D]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of the two texts' embeddings, in [-1, 1]."""
        va, vb = self.embed([a, b])
        return float(F.cosine_similarity(va, vb, dim=0))

    @torch.no_grad()
    def generate_json(
        self, prompt: str, schema: dict[str, Any], config: GenerationConfig | None = None
    ) -> tuple[str, Any]:
        """Decode text that is valid JSON for `schema`; returns (text, parsed value)."""
        config = config or GenerationConfig(temperature=0.0)
        constraint = JsonConstraint(schema, self.tokenizer)
        prompt_ids = self.tokenizer.encode(prompt, add_bos=True)
        budget = GenerationConfig(**{**config.__dict__, "max_new_tokens": constraint.max_tokens})
        ids, mask = self._left_pad([prompt_ids], 0)  # the schema bounds the length, not max_seq_len
        session = _Session(self.model, ids, mask, budget, None)
        generator = _generator(config.seed, self.device)
        seen = self._seen(ids, mask)
        while not constraint.complete:
            logits = apply_repetition_penalty(session.logits, seen, config.repetition_penalty)
            token = constraint.choose(logits[0], config, generator)
            constraint.advance(token)
            seen[0, token] = True
            if not constraint.complete:
                session.push(torch.tensor([token], device=self.device))
        return constraint.text, constraint.value()

    # -- decoding ----------------------------------------------------------------------------
    def _left_pad(self, prompts: Sequence[Sequence[int]], new_tokens: int) -> tuple[Tensor, Tensor]:
        if not prompts or any(len(p) == 0 for p in prompts):
            raise GenerationError(
                "every prompt needs at least one token", [len(p) for p in prompts]
            )
        width = max(len(p) for p in prompts)
        if width + new_tokens > self.max_len:
            raise GenerationError(
                f"prompt of {width} tokens + max_new_tokens={new_tokens} "
                f"exceeds max_seq_len={self.max_len}",
                width + new_tokens,
            )
        ids = torch.full((len(prompts), width), self.tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt))
            mask[row, width - len(prompt) :] = 1
        return ids.to(self.device), mask.to(self.device)  # [B, L]

    def _seen(self, ids: Tensor, mask: Tensor) -> Tensor:
        vocab = self.config.vocab_size
        seen = torch.zeros(ids.shape[0], vocab, dtype=torch.bool, device=self.device)
        return seen.scatter(1, ids, mask.bool())  # [B, V]

    def _decode(
        self, prompts: Sequence[Sequence[int]], config: GenerationConfig, image: Tensor | None
    ) -> Iterator[list[_Row]]:
        """Yield the rows after every decoding step until all have stopped."""
        ids, mask = self._left_pad(prompts, config.max_new_tokens)
        rows = [_Row(len(p)) for p in prompts]
        stop_ids = set(config.stop_token_ids or (self.tokenizer.eos_id,))
        session = _Session(self.model, ids, mask, config, image)
        generator, seen = _generator(config.seed, self.device), self._seen(ids, mask)
        while True:
            tokens = choose(session.logits, config, seen, generator)  # [B]
            seen[torch.arange(len(rows)), tokens] = True
            for row, token in zip(rows, tokens.tolist(), strict=True):
                if row.reason is None:
                    self._extend(row, token, stop_ids, config)
            yield rows
            if all(r.reason is not None for r in rows):
                return
            session.push(tokens)

    def _extend(self, row: _Row, token: int, stop_ids: set[int], config: GenerationConfig) -> None:
        if token in stop_ids:
            row.reason = "stop"
            return
        row.tokens.append(token)
        row.text = self.tokenizer.decode(row.tokens)
        for stop in config.stop_sequences:
            if stop and stop in row.text:
                row.text, row.reason = row.text[: row.text.index(stop)], "stop"
                return
        if len(row.tokens) >= config.max_new_tokens:
            row.reason = "length"


def _generator(seed: int | None, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def _holdback(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters might still change: a partial UTF-8 character or the start
    of a stop sequence."""
    hold = len(text) - len(text.rstrip("\ufffd"))
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                hold = max(hold, n)
                break
    return hold
