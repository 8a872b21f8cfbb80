"""Evaluation: perplexity, diversity, speed, memory, resonance statistics, parameter counts.

- Perplexity uses a sliding window: windows of `window` tokens advance by `stride`; each token is
  scored once, by the first window that holds it with the most context (the HF recipe), so
  the figure does not depend on arbitrary chunk borders. Only the next-token loss counts.
- Diversity is distinct-n over sampled continuations of prompts cut from the texts (seeded).
- Memory is the parameter (and buffer) bytes, plus the peak CUDA allocation on a GPU or the
  process's peak resident set on the CPU.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from model.engine import GenerationEngine
from model.outputs import IGNORE, ModelOutput
from model.sampling import GenerationConfig
from model.tokenizer import Tokenizer


@dataclass(frozen=True)
class EvaluationReport:
    perplexity: float
    tokens_scored: int
    distinct_1: float
    distinct_2: float
    generation_tokens_per_s: float
    parameter_bytes: int
    peak_memory_bytes: int
    mean_iterations: tuple[float, ...]  # per layer
    mean_entropy: tuple[float, ...]  # per layer
    parameters: int
    parameters_by_part: tuple[tuple[str, int], ...]


def parameter_breakdown(model: nn.Module) -> tuple[tuple[str, int], ...]:
    return tuple(
        (name, sum(p.numel() for p in part.parameters())) for name, part in model.named_children()
    )


def distinct_n(sequences: Sequence[Sequence[int]], n: int) -> float:
    """Unique n-grams / all n-grams over `sequences` (0 when there are none)."""
    grams = [tuple(s[i : i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@dataclass(frozen=True)
class _Scored:
    nll: float
    tokens: int
    iterations: Tensor  # [L]
    entropy: Tensor  # [L]
    windows: int


@torch.no_grad()
def sliding_window_nll(model: nn.Module, ids: Tensor, window: int, stride: int) -> _Scored:
    """Summed next-token NLL over the 1-D token tensor `ids`.

    Windows overlap by at least one token (`stride < window`), so every token after the first is
    scored exactly once, with at least one token of context."""
    stride = max(1, min(stride, window - 1))
    device = next(model.parameters()).device
    model.eval()
    nll, count, windows, prev_end = 0.0, 0, 0, 0
    layers = int(model.config.n_layers)  # type: ignore[union-attr, arg-type]
    iters, ent = torch.zeros(layers), torch.zeros(layers)
    for begin in range(0, max(1, ids.numel() - 1), stride):
        end = min(begin + window, ids.numel())
        chunk = ids[begin:end].unsqueeze(0).to(device)  # [1, W]
        labels = chunk.clone()
        labels[:, : max(0, prev_end - begin)] = IGNORE  # tokens already scored
        out: ModelOutput = model(chunk, labels=labels)
        scored = int((labels[:, 1:] != IGNORE).sum())
        assert out.lm_loss is not None
        nll, count = nll + float(out.lm_loss) * scored, count + scored
        iters += torch.stack([m.iterations.float().mean().cpu() for m in out.metadata])
        ent += torch.stack([m.entropy.float().mean().cpu() for m in out.metadata])
        windows, prev_end = windows + 1, end
        if end == ids.numel():
            break
    return _Scored(nll, count, iters / max(windows, 1), ent / max(windows, 1), windows)


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def evaluate(
    model: nn.Module,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    window: int = 64,
    stride: int = 32,
    max_tokens: int = 4096,
    prompts: int = 4,
    new_tokens: int = 24,
    seed: int = 0,
) -> EvaluationReport:
    """Evaluate `model` on `texts` (at most `max_tokens` tokens are scored)."""
    stream: list[int] = []
    for encoded in tokenizer.encode_batch(list(texts)):
        stream.extend([*encoded, tokenizer.eos_id])
    ids = torch.tensor(stream[: max_tokens + 1], dtype=torch.long)
    scored = sliding_window_nll(model, ids, window, stride)
    engine = GenerationEngine(model, tokenizer)
    cues = [t[:40] for t in texts[:prompts] if t.strip()] or ["The"]
    config = GenerationConfig(max_new_tokens=new_tokens, temperature=1.0, top_k=50, seed=seed)
    started = time.perf_counter()
    results = engine.generate(cues, config)
    elapsed = time.perf_counter() - started
    generated = [list(r.token_ids) for r in results]
    device = next(model.parameters()).device
    return EvaluationReport(
        perplexity=math.exp(scored.nll / max(scored.tokens, 1)),
        tokens_scored=scored.tokens,
        distinct_1=distinct_n(generated, 1),
        distinct_2=distinct_n(generated, 2),
        generation_tokens_per_s=sum(len(g) for g in generated) / max(elapsed, 1e-9),
        parameter_bytes=sum(t.numel() * t.element_size() for t in model.state_dict().values()),
        peak_memory_bytes=_peak_memory(device),
        mean_iterations=tuple(float(x) for x in scored.iterations),
        mean_entropy=tuple(float(x) for x in scored.entropy),
        parameters=sum(p.numel() for p in model.parameters()),
        parameters_by_part=parameter_breakdown(model),
    )


def compare(
    models: Mapping[str, nn.Module], tokenizer: Tokenizer, texts: Sequence[str], **options: int
) -> dict[str, EvaluationReport]:
    """The same evaluation for each model (e.g. `{"qllm": ..., "baseline": ...}`)."""
    return {name: evaluate(m, tokenizer, texts, **options) for name, m in models.items()}
