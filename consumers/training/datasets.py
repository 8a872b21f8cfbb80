"""The training worker's side of the dataset store: an uploaded dataset, read by its id.

The API writes datasets under ``Settings.data_root`` (``api.datasets``: ``<root>/<id>/`` holds
``manifest.json`` and ``data.txt`` or ``data.jsonl``); the worker reads them with the loaders of
``model.data``, by the manifest's kind: ``text`` → documents (``standard`` training), ``dialogue``
(prompt/response), ``empathy`` (with a score), ``function_calling`` (a JSON call as response) →
dialogue records. The root may be any fsspec URL: a remote file is copied to a temporary local
file first, since the loaders read local paths.

Deliberate choice: everything wrong with a dataset (missing, of another kind than the training
type wants, a bad line) is the job's own error (``JobError``): the job fails with the reason, the
worker goes on.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import fsspec

from consumers.errors import JobError
from model import DataError, DialogueRecord, Document
from model.data import load_jsonl, load_text

KIND_OF_TYPE = {"standard": "text", "dialogue": "dialogue", "empathy": "empathy",
                "function_calling": "function_calling"}  # fmt: skip

Records = list[Document] | list[DialogueRecord]


def load_dataset(root: str, dataset_id: str, training_type: str, job_id: str) -> Records:
    """The records of dataset ``dataset_id`` for ``training_type`` (``JobError`` if unusable)."""
    wanted = KIND_OF_TYPE.get(training_type)
    if wanted is None:
        raise JobError(job_id, f"unknown training type {training_type!r}")
    fs, base = fsspec.core.url_to_fs(root)
    folder = f"{str(base).rstrip('/')}/{dataset_id}"
    if "/" in dataset_id or not fs.exists(f"{folder}/manifest.json"):
        raise JobError(job_id, f"unknown dataset {dataset_id!r} under {root}")
    manifest = json.loads(fs.cat_file(f"{folder}/manifest.json"))
    if manifest.get("kind") != wanted:
        raise JobError(
            job_id, f"dataset {dataset_id} holds {manifest.get('kind')!r} records; "
            f"training type {training_type!r} needs {wanted!r}",
        )  # fmt: skip
    name = "data.jsonl" if manifest.get("format") == "jsonl" else "data.txt"
    try:
        with tempfile.TemporaryDirectory(prefix="qllm-dataset-") as scratch:
            local = Path(scratch) / name
            fs.get_file(f"{folder}/{name}", str(local))
            if name == "data.txt":
                return _text_documents(local, dataset_id)
            return load_jsonl(local, wanted)  # type: ignore[arg-type]
    except (DataError, OSError) as exc:
        raise JobError(job_id, f"dataset {dataset_id}: {exc}") from exc


def _text_documents(path: Path, dataset_id: str) -> list[Document]:
    """Paragraph blocks of a text upload; a file without blank-line blocks is one per line."""
    docs = load_text(path)
    if len(docs) < 2:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        docs = [Document(f"{dataset_id}:{i}", line) for i, line in enumerate(lines)]
    return [Document(f"{dataset_id}:{d.name}", d.text) for d in docs]
