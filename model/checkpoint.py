"""Checkpoints: one directory per save, rotated.

Layout of `<root>/step-00000100/`:
- `model.safetensors` — the weights (persistent buffers included, derived masks excluded);
- `config.json` — the `ModelConfig` (and the training config, if any);
- `tokenizer.json`;
- `trainer.pt` — optimizer, scheduler, step, epoch, RNG states and metrics, written only when a
  trainer saves; loaded with `weights_only=True` (plain tensors and Python values only).

A directory is written under a temporary name and renamed when complete, so a crash mid-save
never leaves a checkpoint that looks whole.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from model.config import ModelConfig
from model.errors import CheckpointError
from model.factory import build_model
from model.tokenizer import Tokenizer

WEIGHTS, CONFIG, TRAINER = "model.safetensors", "config.json", "trainer.pt"
PREFIX = "step-"


@dataclass(frozen=True)
class Checkpoint:
    model: nn.Module
    tokenizer: Tokenizer
    config: ModelConfig
    path: Path
    trainer_state: dict[str, Any] | None
    training_config: dict[str, Any] | None


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    tokenizer: Tokenizer,
    trainer_state: dict[str, Any] | None = None,
    training_config: dict[str, Any] | None = None,
) -> Path:
    """Write a complete checkpoint directory at `path` (replacing one that is there)."""
    final = Path(path)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / WEIGHTS))
    config: ModelConfig = model.config  # type: ignore[assignment]
    meta = {"model": config.to_dict(), "training": training_config}
    (tmp / CONFIG).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    tokenizer.save(tmp / "tokenizer.json")
    if trainer_state is not None:
        torch.save(trainer_state, tmp / TRAINER)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model (weights on `device`), tokenizer and saved state from `path`."""
    root = Path(path)
    for name in (WEIGHTS, CONFIG, "tokenizer.json"):
        if not (root / name).is_file():
            raise CheckpointError(f"checkpoint {root} lacks {name}", str(root / name))
    meta = json.loads((root / CONFIG).read_text(encoding="utf-8"))
    config = ModelConfig.from_dict(meta["model"])
    model = build_model(config)
    missing, unexpected = model.load_state_dict(load_file(str(root / WEIGHTS)), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {root} does not match its config", (missing, unexpected))
    model.to(device)
    state = None
    if (root / TRAINER).is_file():
        state = torch.load(root / TRAINER, map_location="cpu", weights_only=True)
    return Checkpoint(model, Tokenizer.load(root), config, root, state, meta.get("training"))


def checkpoint_dirs(root: str | Path) -> list[Path]:
    """Complete checkpoints under `root`, oldest first."""
    base = Path(root)
    if not base.is_dir():
        return []
    return sorted(
        p
        for p in base.iterdir()
        if p.is_dir() and p.name.startswith(PREFIX) and not p.name.endswith(".tmp")
    )


def latest_checkpoint(root: str | Path, at_most: int | None = None) -> Path | None:
    """The newest complete checkpoint under `root`; with `at_most`, of a step no later than it."""
    found = [p for p in checkpoint_dirs(root) if at_most is None or checkpoint_step(p) <= at_most]
    return found[-1] if found else None


def checkpoint_step(path: str | Path) -> int:
    """The training step a checkpoint directory was saved at (its name says)."""
    return int(Path(path).name.removeprefix(PREFIX).split(".")[0])


def rotate(root: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints; returns the deleted paths."""
    found = checkpoint_dirs(root)
    doomed = found[: max(0, len(found) - keep)]
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def step_dir(root: str | Path, step: int) -> Path:
    return Path(root) / f"{PREFIX}{step:08d}"
