"""The training worker reads uploaded datasets by id: every training type trains on its kind,
and a missing or mismatched dataset is the job's own error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from consumers.config import WorkerSettings
from consumers.errors import JobError
from consumers.training.datasets import load_dataset
from consumers.training.run import JobControl, JobSpec, run_job
from model import DialogueRecord, Document

ROWS: dict[str, list[dict[str, Any]]] = {
    "dialogue": [{"prompt": f"hi {i}", "response": f"hello friend {i}"} for i in range(6)],
    "empathy": [
        {"prompt": f"sad {i}", "response": f"I hear you {i}", "empathy": 0.5} for i in range(6)
    ],
    "function_calling": [
        {"prompt": f"weather {i}", "response": {"name": "w", "arguments": {}}} for i in range(6)
    ],
}


def _store(root: Path, kind: str) -> str:
    folder = root / f"ds-{kind}"
    folder.mkdir(parents=True)
    if kind == "text":
        (folder / "data.txt").write_text("\n".join(f"line {i} about things" for i in range(20)))
    else:
        (folder / "data.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS[kind]))
    manifest = {"dataset_id": folder.name, "name": kind, "owner": "ann", "kind": kind,
                "format": "text" if kind == "text" else "jsonl", "size_bytes": 1, "records": 1,
                "created_at": "2025-01-01T00:00:00+00:00"}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder.name


@pytest.mark.parametrize(
    ("training_type", "kind"),
    [
        ("standard", "text"),
        ("dialogue", "dialogue"),
        ("empathy", "empathy"),
        ("function_calling", "function_calling"),
    ],
)
def test_each_training_type_trains_on_its_kind_of_dataset(
    tmp_path: Path, training_type: str, kind: str
) -> None:
    dataset = _store(tmp_path / "data", kind)
    records = load_dataset(str(tmp_path / "data"), dataset, training_type, "job")
    expected = Document if kind == "text" else DialogueRecord
    assert records and all(isinstance(r, expected) for r in records)
    if kind == "empathy":
        assert {r.weight for r in records} == {0.5}  # type: ignore[union-attr]
    worker = WorkerSettings(batch_size=2, seq_len=16, eval_tokens=32, checkpoint_every=2)
    spec = JobSpec("job", "tiny", 2, tmp_path / "work", training_type, dataset, {},
                   str(tmp_path / "data"))  # fmt: skip
    outcome = run_job(spec, worker, JobControl(), lambda report: None, lambda *args: None)
    assert (outcome.status, outcome.step) == ("completed", 2)


def test_a_missing_or_mismatched_dataset_is_the_jobs_own_error(tmp_path: Path) -> None:
    root = str(tmp_path)
    dataset = _store(tmp_path, "dialogue")
    with pytest.raises(JobError, match="unknown dataset"):
        load_dataset(root, "ds-none", "dialogue", "job")
    with pytest.raises(JobError, match="needs 'empathy'"):
        load_dataset(root, dataset, "empathy", "job")
    with pytest.raises(JobError, match="unknown dataset"):
        load_dataset(root, "../escape", "dialogue", "job")
