"""Turning next-token logits into tokens: penalties, temperature, top-k, top-p, sampling.

Pure functions on `[B, V]` tensors so the engine's loop stays readable and each rule is tested on
its own. Repetition penalty follows the CTRL form the design names: a seen token's positive logit
is divided by the penalty, a negative one multiplied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from model.errors import ConfigError


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 64
    temperature: float = 1.0  # 0 → greedy
    top_k: int = 0  # 0 → off
    top_p: float = 1.0  # 1 → off
    repetition_penalty: float = 1.0  # 1 → off
    stop_sequences: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] | None = None  # None → the tokenizer's eos
    seed: int | None = None
    use_cache: bool = True

    def __post_init__(self) -> None:
        checks = (
            (self.max_new_tokens >= 1, "max_new_tokens", self.max_new_tokens),
            (self.temperature >= 0, "temperature", self.temperature),
            (self.top_k >= 0, "top_k", self.top_k),
            (0 < self.top_p <= 1, "top_p", self.top_p),
            (self.repetition_penalty > 0, "repetition_penalty", self.repetition_penalty),
        )
        for ok, name, value in checks:
            if not ok:
                raise ConfigError(f"{name}={value} is out of range", value)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """logits `[B, V]`, seen `[B, V]` bool → penalised logits."""
    if penalty == 1.0:
        return logits
    punished = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, punished, logits)


def apply_top_k(logits: Tensor, k: int) -> Tensor:
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[:, -1:]  # [B, 1]
    return logits.masked_fill(logits < kth, float("-inf"))


def apply_top_p(logits: Tensor, p: float) -> Tensor:
    """Keep the smallest set of tokens whose probability reaches `p` (always at least one)."""
    if p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # [B, V]
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass strictly before each token
    drop_sorted = before >= p
    drop_sorted[..., 0] = False  # the most likely token stays (a p that rounds to 0 drops all)
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def choose(
    logits: Tensor, config: GenerationConfig, seen: Tensor, generator: torch.Generator | None
) -> Tensor:
    """Next token per row: `[B, V]` → `[B]`."""
    logits = apply_repetition_penalty(logits.float(), seen, config.repetition_penalty)
    scaled = logits if config.greedy else logits / config.temperature
    if config.greedy or bool((torch.isinf(scaled) & torch.isfinite(logits)).any()):
        # greedy; or a temperature so small that logits / temperature overflows: its limit
        return logits.argmax(dim=-1)
    logits = apply_top_p(apply_top_k(scaled, config.top_k), config.top_p)
    probs = logits.softmax(dim=-1)  # [B, V]
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
