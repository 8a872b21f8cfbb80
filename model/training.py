"""Training: the loop, its configuration, progress reports and cooperative control.

- Four training types share one loop; they differ only in the dataset handed in (see
  `build_dataset`): `standard` samples text windows, `dialogue` learns response tokens only,
  `empathy` adds per-example weights, `function_calling` learns validated JSON calls.
- AdamW, linear warmup then cosine decay to `min_lr_ratio`, gradient clipping, accumulation,
  bf16 autocast on CUDA only (CPU runs in float32), CUDA when present.
- Exact resume: the batch of step n is drawn from a generator seeded by `(seed, n)`, and the
  checkpoint holds optimizer, scheduler and RNG states, so a resumed run reproduces the losses of
  an uninterrupted one.
- After every optimizer step each `StepCallback` receives a frozen `StepReport` (plain values, no
  tensors), and the optional `control` callable is asked whether to go on, pause or stop; pause and
  stop both save a checkpoint (when a directory is configured) and return.
- Like the generation engine, a trainer flushes denormal floats to zero (process-wide): the
  sharpened attention softmax underflows, and denormal arithmetic is very slow on x86 CPUs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import nn

from model.batches import Batch, Dataset, DialogueSet, TokenStream
from model.checkpoint import rotate, save_checkpoint, step_dir
from model.data import DialogueRecord, Document
from model.errors import ConfigError
from model.outputs import ModelOutput
from model.tokenizer import Tokenizer

TrainingType = Literal["standard", "dialogue", "empathy", "function_calling"]
TRAINING_TYPES: tuple[str, ...] = ("standard", "dialogue", "empathy", "function_calling")


@dataclass(frozen=True)
class TrainingConfig:
    training_type: TrainingType = "standard"
    steps: int = 100
    batch_size: int = 8
    seq_len: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 10
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    accumulation: int = 1
    seed: int = 0
    eval_every: int = 0  # 0: evaluate only at the end (when validation data is given)
    eval_batches: int = 4
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0  # 0: only at the end, on pause and on stop
    keep_checkpoints: int = 2
    device: str | None = None  # None: CUDA when available, else CPU
    bf16: bool = True  # autocast to bfloat16 on CUDA; ignored on CPU

    def __post_init__(self) -> None:
        if self.training_type not in TRAINING_TYPES:
            raise ConfigError(
                f"training_type={self.training_type!r} is not one of {TRAINING_TYPES}",
                self.training_type,
            )
        for name in ("steps", "batch_size", "seq_len", "accumulation", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1", getattr(self, name))
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate={self.learning_rate} must be > 0", self.learning_rate)
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(
                f"min_lr_ratio={self.min_lr_ratio} must be in [0, 1]", self.min_lr_ratio
            )


@dataclass(frozen=True)
class StepReport:
    step: int  # optimizer steps completed
    loss: float
    lr: float
    tokens_per_s: float
    grad_norm: float
    mean_iterations: tuple[float, ...]  # per layer
    mean_entropy: tuple[float, ...]  # per layer
    val_loss: float | None = None


class StepCallback(Protocol):
    def __call__(self, report: StepReport, /) -> None: ...


class Directive(Enum):
    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"


Control = Callable[[int], Directive]


@dataclass(frozen=True)
class TrainingResult:
    status: Literal["completed", "paused", "stopped"]
    step: int
    losses: tuple[float, ...]  # training loss of each step run in this call
    val_losses: tuple[tuple[int, float], ...]  # (step, validation loss)
    checkpoint: Path | None


class WarmupCosine:
    """lr multiplier: linear warmup, then cosine from 1 to `floor` at `total` steps."""

    def __init__(self, warmup: int, total: int, floor: float) -> None:
        self.warmup, self.total, self.floor = warmup, total, floor

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))


def resolve_device(name: str | None) -> torch.device:
    if name is not None:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_dataset(
    kind: str, tok: Tokenizer, seq_len: int, source: Sequence[Document] | Sequence[DialogueRecord]
) -> Dataset:
    """The dataset a training type reads: documents for `standard`, records for the others."""
    if kind == "standard":
        docs = [d for d in source if isinstance(d, Document)]
        if len(docs) != len(source):
            raise ConfigError("standard training needs Documents", kind)
        return TokenStream.from_documents(docs, tok, seq_len)
    records = [r for r in source if isinstance(r, DialogueRecord)]
    if len(records) != len(source):
        raise ConfigError(f"{kind} training needs DialogueRecords", kind)
    return DialogueSet(records, tok, seq_len)


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        tokenizer: Tokenizer,
        config: TrainingConfig,
        train_data: Dataset,
        val_data: Dataset | None = None,
        callbacks: Sequence[StepCallback] = (),
        control: Control | None = None,
    ) -> None:
        self.config, self.tokenizer = config, tokenizer
        self.device = resolve_device(config.device)
        torch.set_flush_denormal(True)  # see the module docstring
        self.model = model.to(self.device)
        self.train_data, self.val_data = train_data, val_data
        self.callbacks, self.control = list(callbacks), control
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        schedule = WarmupCosine(config.warmup_steps, config.steps, config.min_lr_ratio)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.step, self.tokens_seen = 0, 0
        self.metrics: dict[str, Any] = {"val_losses": []}

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state()
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "tokens_seen": self.tokens_seen,
            "rng": rng,
            "metrics": self.metrics,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.tokens_seen = int(state["step"]), int(state["tokens_seen"])
        self.metrics = state["metrics"]
        torch.set_rng_state(state["rng"]["cpu"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["rng"]["cuda"])

    @property
    def epoch(self) -> float:
        size = getattr(self.train_data, "tokens", None)
        return self.tokens_seen / size.numel() if isinstance(size, torch.Tensor) else 0.0

    def save(self) -> Path | None:
        if self.config.checkpoint_dir is None:
            return None
        path = step_dir(self.config.checkpoint_dir, self.step)
        save_checkpoint(path, self.model, self.tokenizer, self.state(), asdict(self.config))
        rotate(self.config.checkpoint_dir, self.config.keep_checkpoints)
        return path

    # -- loop --------------------------------------------------------------------------------
    def run(self) -> TrainingResult:
        losses: list[float] = []
        cfg = self.config
        while self.step < cfg.steps:
            directive = self.control(self.step) if self.control else Directive.CONTINUE
            if directive is not Directive.CONTINUE:
                status: Literal["paused", "stopped"] = (
                    "paused" if directive is Directive.PAUSE else "stopped"
                )
                return self._result(status, losses, self.save())
            report = self.train_step()
            losses.append(report.loss)
            for callback in self.callbacks:
                callback(report)
            if (
                cfg.checkpoint_every
                and self.step % cfg.checkpoint_every == 0
                and self.step < cfg.steps
            ):
                self.save()
        return self._result("completed", losses, self.save())

    def _result(self, status: Any, losses: list[float], path: Path | None) -> TrainingResult:
        vals = tuple((int(s), float(v)) for s, v in self.metrics["val_losses"])
        return TrainingResult(status, self.step, tuple(losses), vals, path)

    def _batch(self, micro: int) -> Batch:
        seed = self.config.seed * 1_000_003 + self.step * 1_009 + micro
        return self.train_data.sample(self.config.batch_size, torch.Generator().manual_seed(seed))

    def _forward(self, batch: Batch) -> ModelOutput:
        use_bf16 = self.device.type == "cuda" and self.config.bf16
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            out: ModelOutput = self.model(
                batch.ids, batch.attention_mask, batch.labels, batch.weights
            )
        return out

    def train_step(self) -> StepReport:
        cfg, started = self.config, time.perf_counter()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, tokens, out = 0.0, 0, None
        for micro in range(cfg.accumulation):
            batch = self._batch(micro).to(self.device)
            out = self._forward(batch)
            assert out.loss is not None
            (out.loss / cfg.accumulation).backward()
            loss_sum += float(out.loss.detach()) / cfg.accumulation
            tokens += batch.tokens
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.tokens_seen += tokens
        val = self._maybe_evaluate()
        assert out is not None
        return StepReport(
            step=self.step,
            loss=loss_sum,
            lr=float(lr),
            tokens_per_s=tokens / max(time.perf_counter() - started, 1e-9),
            grad_norm=float(grad_norm),
            mean_iterations=tuple(float(m.iterations.mean()) for m in out.metadata),
            mean_entropy=tuple(float(m.entropy.detach().float().mean()) for m in out.metadata),
            val_loss=val,
        )

    def _maybe_evaluate(self) -> float | None:
        cfg = self.config
        due = self.step == cfg.steps or (cfg.eval_every and self.step % cfg.eval_every == 0)
        if self.val_data is None or not due:
            return None
        loss = self.validation_loss()
        self.metrics["val_losses"].append([self.step, loss])
        return loss

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Mean next-token loss (no auxiliary terms) over the first `eval_batches` batches."""
        assert self.val_data is not None
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        for batch in self.val_data.batches(self.config.batch_size, self.config.eval_batches):
            out = self._forward(batch.to(self.device))
            assert out.lm_loss is not None
            total, count = total + float(out.lm_loss), count + 1
        self.model.train(was_training)
        return total / max(count, 1)


def train(
    model: nn.Module,
    tokenizer: Tokenizer,
    config: TrainingConfig,
    train_data: Dataset,
    val_data: Dataset | None = None,
    callbacks: Sequence[StepCallback] = (),
    control: Control | None = None,
    resume_from: dict[str, Any] | None = None,
) -> TrainingResult:
    """Run a `Trainer` to completion (or pause/stop).

    `resume_from` is a checkpoint's trainer state (`load_checkpoint(...).trainer_state`)."""
    trainer = Trainer(model, tokenizer, config, train_data, val_data, callbacks, control)
    if resume_from is not None:
        trainer.load_state(resume_from)
    return trainer.run()
