"""A training job builds its model with the extensions it was submitted with (the model's), and
the checkpoint it saves keeps them, so the inference worker loads the same model."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.config import WorkerSettings
from consumers.errors import JobError
from consumers.training.run import JobControl, JobSpec, run_job
from model import load_checkpoint

WORKER = WorkerSettings(batch_size=2, seq_len=16, eval_tokens=32, checkpoint_every=2,
                        corpus_documents=4)  # fmt: skip


def test_the_model_is_built_with_the_jobs_extensions_and_its_checkpoint_keeps_them(
    tmp_path: Path,
) -> None:
    extensions = {"memory": "True", "memory_slots": "16", "observer": "True"}
    spec = JobSpec("job", "tiny", 2, tmp_path / "work", extensions=extensions)
    outcome = run_job(spec, WORKER, JobControl(), lambda report: None, lambda *args: None)
    assert outcome.status == "completed" and outcome.checkpoint is not None
    checkpoint = load_checkpoint(outcome.checkpoint)
    assert checkpoint.config.extensions.memory and checkpoint.config.extensions.observer
    assert checkpoint.config.extensions.memory_slots == 16
    assert checkpoint.model.extensions.names == ("memory", "observer")


def test_a_job_without_extensions_trains_the_plain_preset(tmp_path: Path) -> None:
    spec = JobSpec("job", "tiny", 1, tmp_path / "work")
    outcome = run_job(spec, WORKER, JobControl(), lambda report: None, lambda *args: None)
    assert outcome.checkpoint is not None
    assert load_checkpoint(outcome.checkpoint).model.extensions.names == ()


def test_an_invalid_extension_setting_is_the_jobs_own_error(tmp_path: Path) -> None:
    spec = JobSpec("job", "tiny", 1, tmp_path / "work", extensions={"memory_slots": "0"})
    with pytest.raises(JobError, match=r"extensions\.memory_slots"):
        run_job(spec, WORKER, JobControl(), lambda report: None, lambda *args: None)
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
