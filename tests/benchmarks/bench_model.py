"""Model benchmarks, measured side by side in one run (CPU unless CUDA is present).

1. Generation of 256 new tokens: KV cache vs full recompute per token (QLLM and baseline).
2. Training throughput (tokens/s) for the `tiny` and `small` presets.
3. QLLM vs the baseline transformer at roughly equal parameters and equal steps on the default
   corpus: held-out perplexity (sliding window) and QLLM's mean attention iterations per layer.

Run from the repo root:  python -m tests.benchmarks.bench_model [--quick] [--write]
`--write` stores the markdown in tests/benchmarks/model.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from model import (
    GenerationConfig,
    GenerationEngine,
    StepReport,
    Tokenizer,
    Trainer,
    TrainingConfig,
    build_dataset,
    build_model,
    default_corpus,
    evaluate,
    parameter_count,
    preset,
    split_documents,
)

OUT = Path(__file__).with_name("model.md")


def bench_generation(tok: Tokenizer, arch: str, new_tokens: int) -> tuple[float, float, bool]:
    torch.manual_seed(0)
    config = preset("tiny", arch=arch, vocab_size=tok.vocab_size, max_seq_len=new_tokens + 64)
    engine = GenerationEngine(build_model(config), tok)
    prompt = "The object returned by the function"
    times, outputs = {}, {}
    for use_cache in (True, False):
        gen = GenerationConfig(
            max_new_tokens=new_tokens, temperature=0, stop_token_ids=(-1,), use_cache=use_cache
        )
        engine.generate(
            prompt, GenerationConfig(**{**gen.__dict__, "max_new_tokens": 8})
        )  # warm-up
        started = time.perf_counter()
        outputs[use_cache] = engine.generate(prompt, gen)[0].token_ids
        times[use_cache] = time.perf_counter() - started
    return new_tokens / times[True], new_tokens / times[False], outputs[True] == outputs[False]


def bench_training(tok: Tokenizer, name: str, docs: list, steps: int, seq_len: int) -> float:
    torch.manual_seed(0)
    reports: list[StepReport] = []
    model = build_model(preset(name, vocab_size=tok.vocab_size))
    config = TrainingConfig(steps=steps, batch_size=8, seq_len=seq_len, warmup_steps=2)
    data = build_dataset("standard", tok, seq_len, docs)
    Trainer(model, tok, config, data, callbacks=[reports.append]).run()
    return statistics.median(r.tokens_per_s for r in reports[2:])


def bench_quality(tok: Tokenizer, train_docs: list, held: list, steps: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for arch in ("qllm", "baseline"):
        torch.manual_seed(0)
        model = build_model(preset("tiny", arch=arch, vocab_size=tok.vocab_size))
        config = TrainingConfig(
            steps=steps, batch_size=16, seq_len=64, learning_rate=3e-3, warmup_steps=20
        )
        data = build_dataset("standard", tok, 64, train_docs)
        started = time.perf_counter()
        Trainer(model, tok, config, data).run()
        elapsed = time.perf_counter() - started
        report = evaluate(model, tok, [d.text for d in held], window=64, stride=32, max_tokens=8192)
        results[arch] = {
            "params": parameter_count(model),
            "ppl": report.perplexity,
            "iters": report.mean_iterations,
            "entropy": report.mean_entropy,
            "train_s": elapsed,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer steps and tokens (smoke run)")
    parser.add_argument("--write", action="store_true", help=f"write the markdown to {OUT}")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads (1: on a shared 2-core machine a 2nd thread's spin-waits dominate)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    new_tokens, train_steps, quality_steps = (64, 6, 30) if args.quick else (256, 20, 600)

    train_docs, held = split_documents(default_corpus())
    tok = Tokenizer.train([d.text for d in train_docs], vocab_size=512)
    lines = [
        "## Model (`model/`)",
        "",
        f"Command: `python -m tests.benchmarks.bench_model{' --quick' if args.quick else ''}"
        f"{' --write' if args.write else ''}` — "
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()}-core CPU, "
        f"{torch.get_num_threads()} intra-op thread, "
        f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}, torch {torch.__version__}.",
        "",
        f"### Generation, {new_tokens} new tokens, greedy, tiny preset, batch 1",
        "",
        "| model | KV cache tok/s | full recompute tok/s | speed-up | same tokens |",
        "|---|---|---|---|---|",
    ]
    for arch in ("qllm", "baseline"):
        cached, full, same = bench_generation(tok, arch, new_tokens)
        lines.append(f"| {arch} | {cached:.1f} | {full:.1f} | {cached / full:.1f}× | {same} |")
        print(lines[-1], file=sys.stderr)
    lines += ["", "### Training throughput (QLLM, batch 8, AdamW, float32)", "",
              "| preset | params | seq len | tokens/s (median) |", "|---|---|---|---|"]  # fmt: skip
    for name, seq_len in (("tiny", 64), ("small", 128)):
        tps = bench_training(tok, name, train_docs, train_steps, seq_len)
        params = parameter_count(build_model(preset(name, vocab_size=tok.vocab_size)))
        lines.append(f"| {name} | {params:,} | {seq_len} | {tps:,.0f} |")
        print(lines[-1], file=sys.stderr)
    quality = bench_quality(tok, train_docs, held, quality_steps)
    lines += [
        "",
        f"### QLLM vs baseline: tiny preset, {quality_steps} steps × 16 × 64 tokens, "
        "same data order",
        "",
        "Held-out perplexity on the default corpus (sliding window 64, stride 32, 8,192 tokens).",
        "",
        "| model | params | held-out ppl | train time s | mean attention iterations per layer |",
        "|---|---|---|---|---|",
    ]
    for arch, r in quality.items():
        iters = ", ".join(f"{x:.2f}" for x in r["iters"])
        lines.append(
            f"| {arch} | {r['params']:,} | {r['ppl']:.2f} | {r['train_s']:.0f} | {iters} |"
        )
    q, b = quality["qllm"], quality["baseline"]
    winner = "QLLM" if q["ppl"] < b["ppl"] else "the baseline"
    ratio = q["ppl"] / b["ppl"]
    lines += [
        "",
        f"Perplexity ratio QLLM / baseline: {ratio:.3f} ({winner} wins at equal steps); "
        f"training-time ratio {q['train_s'] / b['train_s']:.1f}×.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        OUT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
