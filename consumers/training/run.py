"""One training attempt, run in a worker thread: build or resume, train, evaluate.

Synchronous on purpose (it runs in ``asyncio.to_thread``): the worker hears about progress
through two callbacks, and steers the run through ``JobControl``, which the trainer consults
between steps (``Directive``), so pause, stop and force-checkpoint take effect within one step.

Data: the first ``corpus_documents`` documents of ``model.default_corpus()`` (StartTraining names
no dataset), split by name into train and held-out; the held-out part is the evaluation set. A
resumed attempt takes model, tokenizer, optimizer and RNG state from the newest checkpoint, so it
continues exactly where the checkpoint left off.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, cast

import torch

from consumers.config import WorkerSettings
from consumers.errors import JobError
from model import (
    Directive,
    Document,
    StepCallback,
    StepReport,
    Tokenizer,
    Trainer,
    TrainingConfig,
    build_dataset,
    build_model,
    default_corpus,
    evaluate,
    latest_checkpoint,
    load_checkpoint,
    preset,
    split_documents,
)
from model.checkpoint import step_dir

EVALUATION_FILE = "evaluation.json"


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    preset: str
    max_steps: int
    workdir: Path


class JobControl:
    """Written by the event loop, read by the training thread between steps."""

    def __init__(self) -> None:
        self.directive = Directive.CONTINUE
        self.checkpoint_requested = False

    def request(self, directive: Directive) -> None:
        if self.directive is Directive.CONTINUE or directive is Directive.STOP:
            self.directive = directive


@dataclass(frozen=True)
class JobOutcome:
    status: Literal["completed", "paused", "stopped"]
    start_step: int
    step: int
    checkpoint: Path | None
    evaluation: dict[str, Any] | None


@functools.cache
def _corpus(documents: int) -> tuple[Document, ...]:
    return tuple(default_corpus()[:documents])


def _device(worker: WorkerSettings) -> str:
    return worker.device or ("cuda" if torch.cuda.is_available() else "cpu")


def _fresh(spec: JobSpec, docs: list[Document]) -> tuple[Any, Tokenizer]:
    tokenizer = Tokenizer.train([d.text for d in docs], vocab_size=512)
    return build_model(preset(spec.preset, vocab_size=tokenizer.vocab_size)), tokenizer


def _guard(job_id: str) -> Callable[[StepReport], None]:
    def check(report: StepReport) -> None:
        if not math.isfinite(report.loss):
            raise JobError(job_id, f"loss is {report.loss} at step {report.step}")

    return check


def run_job(
    spec: JobSpec,
    worker: WorkerSettings,
    control: JobControl,
    on_step: Callable[[StepReport], None],
    on_checkpoint: Callable[[int, Path], None],
) -> JobOutcome:
    docs = list(_corpus(worker.corpus_documents))
    train_docs, held_out = split_documents(docs)
    resume = latest_checkpoint(spec.workdir)
    state = None
    if resume is not None:
        ck = load_checkpoint(resume, _device(worker))
        model, tokenizer, state = ck.model, ck.tokenizer, ck.trainer_state
    else:
        model, tokenizer = _fresh(spec, docs)
    config = TrainingConfig(
        steps=spec.max_steps, batch_size=worker.batch_size, seq_len=worker.seq_len,
        warmup_steps=max(1, min(10, spec.max_steps // 10)), checkpoint_dir=str(spec.workdir),
        checkpoint_every=worker.checkpoint_every, device=_device(worker),
    )  # fmt: skip
    data = build_dataset("standard", tokenizer, worker.seq_len, train_docs)
    callbacks = [cast(StepCallback, _guard(spec.job_id)), cast(StepCallback, on_step)]
    trainer = Trainer(model, tokenizer, config, data, callbacks=callbacks)
    if state is not None:
        trainer.load_state(state)
    start = trainer.step

    def steer(step: int) -> Directive:
        if control.checkpoint_requested:
            control.checkpoint_requested = False
            if step % worker.checkpoint_every:  # not just saved by the trainer itself
                trainer.save()
            on_checkpoint(step, step_dir(spec.workdir, step))
        elif step > start and step % worker.checkpoint_every == 0:
            on_checkpoint(step, step_dir(spec.workdir, step))  # saved after the previous step
        return control.directive

    trainer.control = steer
    result = trainer.run()
    evaluation = None
    if result.status == "completed" and result.checkpoint is not None:
        texts = [d.text for d in held_out]
        report = evaluate(trainer.model, tokenizer, texts, window=worker.seq_len,
                          stride=worker.seq_len // 2, max_tokens=worker.eval_tokens,
                          prompts=2, new_tokens=8)  # fmt: skip
        evaluation = asdict(report)
        (result.checkpoint / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2))
    return JobOutcome(result.status, start, result.step, result.checkpoint, evaluation)
