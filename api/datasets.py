"""The dataset store: uploaded training data, one folder per dataset under ``data_root``.

``data_root`` is a local folder or any fsspec URL (``s3://bucket/datasets``); a dataset is
``<root>/<id>/data.<txt|jsonl>`` plus ``manifest.json`` (owner, name, kind, size, lines). The
data store is the datasets' record: this is blob storage, like the workers' checkpoint store, not
the Cassandra/Redis state the API must leave to the stream processors.

Deliberate choices:
- Upload is validated while it is copied, line by line, with the rules ``model.data`` applies when
  it trains (``text`` lines carry a non-empty ``"text"``; dialogue kinds a ``"prompt"`` and a
  ``"response"`` …). The first bad line stops the copy; the error names it (1-based) and why.
- Data is written under a ``.partial`` name and renamed when complete, so a reader never sees a
  half dataset; ``cleanup`` removes partials an interrupted upload left behind.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import fsspec
from fsspec.spec import AbstractFileSystem

from model.data import parse_dialogue
from model.errors import DataError

Kind = Literal["text", "dialogue", "empathy", "function_calling"]
Format = Literal["text", "jsonl"]
KINDS: tuple[str, ...] = ("text", "dialogue", "empathy", "function_calling")
MANIFEST, PARTIAL = "manifest.json", ".partial"


class DatasetError(Exception):
    """Base of the dataset store's errors; each carries the offending value."""


class BadLine(DatasetError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line, self.reason = line, reason


class TooLarge(DatasetError):
    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"dataset over {limit} bytes")
        self.limit, self.size = limit, size


class EmptyDataset(DatasetError):
    def __init__(self) -> None:
        super().__init__("the dataset holds no records")


@dataclass(frozen=True)
class Dataset:
    dataset_id: str
    name: str
    owner: str
    format: str
    kind: str
    size_bytes: int
    records: int
    created_at: str

    @property
    def data_file(self) -> str:
        return "data.jsonl" if self.format == "jsonl" else "data.txt"


def check_line(text: str, number: int, fmt: Format, kind: Kind) -> bool:
    """Whether line ``number`` is a record (blank lines are not); ``BadLine`` when it is bad."""
    if not text.strip():
        return False
    if fmt == "text":
        return True
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLine(number, f"invalid JSON: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise BadLine(number, f"expected a JSON object, got {type(obj).__name__}")
    where = f"line {number}"
    if kind == "text":
        if not isinstance(obj.get("text"), str) or not obj["text"]:
            raise BadLine(
                number, f"field 'text' must be a non-empty string, got {obj.get('text')!r}"
            )
        return True
    try:
        parse_dialogue(obj, kind, where)
    except DataError as exc:
        raise BadLine(number, str(exc).removeprefix(f"{where}: ")) from exc
    return True


class DatasetStore:
    def __init__(self, root: str) -> None:
        fs, path = fsspec.core.url_to_fs(root)
        self._fs: AbstractFileSystem = fs
        self._root = str(path).rstrip("/")

    def _dir(self, dataset_id: str) -> str:
        return f"{self._root}/{dataset_id}"

    def new_id(self) -> str:
        return f"ds-{uuid.uuid4().hex[:16]}"

    async def write(
        self, meta: dict[str, Any], chunks: AsyncIterator[bytes], limit: int
    ) -> Dataset:
        """Copy ``chunks`` into a new dataset, validating each line; the dataset on success."""
        dataset_id, fmt, kind = meta["dataset_id"], meta["format"], meta["kind"]
        folder = self._dir(dataset_id)
        self._fs.makedirs(folder, exist_ok=True)
        target = f"{folder}/{'data.jsonl' if fmt == 'jsonl' else 'data.txt'}"
        size = records = number = 0
        rest = b""
        try:
            with self._fs.open(target + PARTIAL, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(limit, size)
                    out.write(chunk)
                    *lines, rest = (rest + chunk).split(b"\n")
                    for line in lines:
                        number += 1
                        records += check_line(_decoded(line, number), number, fmt, kind)
                if rest:
                    number += 1
                    records += check_line(_decoded(rest, number), number, fmt, kind)
            if records == 0:
                raise EmptyDataset()
            self._fs.mv(target + PARTIAL, target)
        except BaseException:
            self._fs.rm(folder, recursive=True)
            raise
        created = datetime.now(UTC).isoformat(timespec="seconds")
        dataset = Dataset(
            dataset_id, meta["name"], meta["owner"], fmt, kind, size, records, created
        )
        self._fs.pipe_file(f"{folder}/{MANIFEST}", json.dumps(asdict(dataset)).encode())
        return dataset

    def get(self, dataset_id: str) -> Dataset | None:
        path = f"{self._dir(dataset_id)}/{MANIFEST}"
        if "/" in dataset_id or not self._fs.exists(path):
            return None
        return Dataset(**json.loads(self._fs.cat_file(path)))

    def all(self) -> list[Dataset]:
        if not self._fs.exists(self._root):
            return []
        found = [
            self.get(p.rstrip("/").rsplit("/", 1)[-1])
            for p in self._fs.ls(self._root, detail=False)
        ]
        return sorted((d for d in found if d), key=lambda d: d.created_at, reverse=True)

    def delete(self, dataset_id: str) -> bool:
        if self.get(dataset_id) is None:
            return False
        self._fs.rm(self._dir(dataset_id), recursive=True)
        return True

    def cleanup(self, older_than_s: float) -> list[str]:
        """Remove the folders of uploads that never completed (no manifest) and are old."""
        if not self._fs.exists(self._root):
            return []
        removed, now = [], time.time()
        for entry in self._fs.ls(self._root, detail=False):
            folder = entry.rstrip("/")
            if self._fs.exists(f"{folder}/{MANIFEST}"):
                continue
            if now - _modified(self._fs, folder) >= older_than_s:
                self._fs.rm(folder, recursive=True)
                removed.append(folder.rsplit("/", 1)[-1])
        return removed


def _decoded(line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(number, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _modified(fs: AbstractFileSystem, path: str) -> float:
    try:
        stamp = fs.modified(path)
    except (NotImplementedError, FileNotFoundError, OSError):
        return 0.0
    return float(stamp.timestamp())
