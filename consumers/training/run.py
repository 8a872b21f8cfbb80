"""One training attempt, run in a worker thread: build or resume, train, evaluate.

Synchronous on purpose (it runs in ``asyncio.to_thread``): the worker hears about progress
through two callbacks, and steers the run through ``JobControl``, which the trainer consults
between steps (``Directive``), so pause, stop and force-checkpoint take effect within one step.

Data: dataset ``default`` (training type ``standard`` only) is the first ``corpus_documents``
documents of ``model.default_corpus()``, split by name into train and held-out; any other id is
an uploaded dataset under ``data_root`` (``consumers.training.datasets``), of the kind the
training type wants (``standard`` → text; ``dialogue``, ``empathy``, ``function_calling`` → their
records), whose last tenth (at least one record, when there are two or more) is held out. The
held-out part is the evaluation set; a fresh tokenizer is trained on every text of the data.
A fresh model is the job's preset with the model's ``extensions`` switched on (what the job
was submitted with; an invalid setting is the job's own error); a resumed one is what its
checkpoint's config says. ``hyperparameters`` override the ``TrainingConfig`` fields of the same
name (``learning_rate``, ``weight_decay``, ``warmup_steps``, ``grad_clip``, ``seed`` …); an unknown
name is the job's own error. A resumed attempt takes model, tokenizer, optimizer and RNG state
from the newest checkpoint the job's stream records (``JobSpec.resume_at_most``), so it continues
exactly where that checkpoint left off.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

import torch

from consumers.config import WorkerSettings
from consumers.errors import JobError
from consumers.training.datasets import load_dataset
from model import (
    ConfigError,
    DialogueRecord,
    Directive,
    Document,
    ExtensionsConfig,
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


_TUNABLE = ("learning_rate", "weight_decay", "warmup_steps", "min_lr_ratio", "grad_clip",
            "accumulation", "seed", "eval_batches", "keep_checkpoints")  # fmt: skip
_INTEGRAL = {f.name for f in fields(TrainingConfig) if f.type in ("int", int)}


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    preset: str
    max_steps: int
    workdir: Path
    training_type: str = "standard"
    dataset_id: str = "default"
    hyperparameters: dict[str, float] = field(default_factory=dict)
    data_root: str = ".qllm/datasets"  # Settings.data_root: where uploaded datasets live
    # resume from no checkpoint later than this step: the newest one the job's stream records
    # (a checkpoint saved after it may be ahead of the recorded steps); None: the newest there is
    resume_at_most: int | None = None
    # the model's extensions (``StartTraining.extensions``): ExtensionsConfig fields as strings
    extensions: dict[str, str] = field(default_factory=dict)


OnCheckpoint = Callable[[int, Path, str | None], None]  # step, folder, forcing command id


class JobControl:
    """Written by the event loop, read by the training thread between steps."""

    def __init__(self) -> None:
        self.directive = Directive.CONTINUE
        self.checkpoint_requested: str | None = None  # the ForceCheckpoint command's id

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


@dataclass(frozen=True)
class TrainingData:
    train: list[Document] | list[DialogueRecord]
    texts: list[str]  # every text of the data: what a fresh tokenizer learns from
    held_out: list[str]  # the evaluation texts


def _text(record: Document | DialogueRecord) -> str:
    return record.text if isinstance(record, Document) else f"{record.prompt} {record.response}"


def training_data(spec: JobSpec, worker: WorkerSettings) -> TrainingData:
    if spec.dataset_id == "default":
        if spec.training_type != "standard":  # the default corpus has documents, not dialogues
            raise JobError(spec.job_id, f"training type {spec.training_type!r} needs a dataset")
        docs = list(_corpus(worker.corpus_documents))
        train_docs, held = split_documents(docs)
        return TrainingData(train_docs, [d.text for d in docs], [d.text for d in held])
    records = load_dataset(spec.data_root, spec.dataset_id, spec.training_type, spec.job_id)
    if not records:
        raise JobError(spec.job_id, f"dataset {spec.dataset_id} holds no records")
    kept = len(records) - max(1, len(records) // 10) if len(records) > 1 else 1
    texts = [_text(r) for r in records]
    return TrainingData(records[:kept], texts, texts[kept:] or texts)


def _fresh(spec: JobSpec, texts: list[str]) -> tuple[Any, Tokenizer]:
    try:
        extensions = ExtensionsConfig.from_strings(spec.extensions)
    except ConfigError as exc:
        raise JobError(spec.job_id, f"model extensions: {exc}") from exc
    tokenizer = Tokenizer.train(texts, vocab_size=512)
    config = preset(spec.preset, vocab_size=tokenizer.vocab_size, extensions=extensions)
    return build_model(config), tokenizer


def _guard(job_id: str) -> Callable[[StepReport], None]:
    def check(report: StepReport) -> None:
        if not math.isfinite(report.loss):
            raise JobError(job_id, f"loss is {report.loss} at step {report.step}")

    return check


def _overrides(spec: JobSpec) -> dict[str, Any]:
    unknown = sorted(set(spec.hyperparameters) - set(_TUNABLE))
    if unknown:
        raise JobError(spec.job_id, f"unknown hyperparameters {unknown}; known: {_TUNABLE}")
    return {k: int(v) if k in _INTEGRAL else v for k, v in spec.hyperparameters.items()}


def run_job(
    spec: JobSpec,
    worker: WorkerSettings,
    control: JobControl,
    on_step: Callable[[StepReport], None],
    on_checkpoint: OnCheckpoint,
) -> JobOutcome:
    data = training_data(spec, worker)
    resume = latest_checkpoint(spec.workdir, spec.resume_at_most)
    state = None
    if resume is not None:
        ck = load_checkpoint(resume, _device(worker))
        model, tokenizer, state = ck.model, ck.tokenizer, ck.trainer_state
    else:
        model, tokenizer = _fresh(spec, data.texts)
    settings: dict[str, Any] = {
        "steps": spec.max_steps, "batch_size": worker.batch_size, "seq_len": worker.seq_len,
        "warmup_steps": max(1, min(10, spec.max_steps // 10)), "device": _device(worker),
        "checkpoint_dir": str(spec.workdir), "checkpoint_every": worker.checkpoint_every,
        "training_type": spec.training_type,
    }  # fmt: skip
    config = TrainingConfig(**{**settings, **_overrides(spec)})
    train = build_dataset(spec.training_type, tokenizer, worker.seq_len, data.train)
    callbacks = [cast(StepCallback, _guard(spec.job_id)), cast(StepCallback, on_step)]
    trainer = Trainer(model, tokenizer, config, train, callbacks=callbacks)
    if state is not None:
        trainer.load_state(state)
    start = trainer.step

    def steer(step: int) -> Directive:
        periodic = step > start and step % worker.checkpoint_every == 0  # saved after the step
        forced, control.checkpoint_requested = control.checkpoint_requested, None
        if forced is not None and not periodic:
            trainer.save()
        if forced is not None or periodic:
            on_checkpoint(step, step_dir(spec.workdir, step), forced)
        return control.directive

    trainer.control = steer
    result = trainer.run()
    evaluation = None
    if result.status == "completed" and result.checkpoint is not None:
        report = evaluate(trainer.model, tokenizer, data.held_out, window=worker.seq_len,
                          stride=worker.seq_len // 2, max_tokens=worker.eval_tokens,
                          prompts=2, new_tokens=8)  # fmt: skip
        evaluation = asdict(report)
        (result.checkpoint / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2))
    return JobOutcome(result.status, start, result.step, result.checkpoint, evaluation)
