"""Training data: the default corpus, plain text and JSONL records, the held-out split.

Sources are read into frozen records; tokenisation and batching live in `model.batches`.

- `default_corpus()` is assembled from text shipped with Python itself: the `pydoc_data` help
  topics and the docstrings of a fixed list of standard-library modules, read with `ast` from
  their source files (nothing is imported, executed or downloaded). Order is deterministic.
- JSONL lines are one of: `{"text"}`; `{"prompt", "response"}`; the same with `"empathy"` (a score
  in [0, 1] that becomes the example's loss weight); or a function call, whose `response` must be
  a JSON object (or a string holding one) with a string `name` and an object `arguments`. Every
  error names the file and the 1-based line.
- The held-out split is by document, decided by a CRC-32 of the document's name, so it does not
  depend on the order documents arrive in or on any random state.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from model.errors import DataError

RecordKind = Literal["text", "dialogue", "empathy", "function_calling"]

STDLIB_MODULES = (
    "abc",
    "argparse",
    "ast",
    "base64",
    "bisect",
    "calendar",
    "collections",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fractions",
    "functools",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "inspect",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "operator",
    "optparse",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shlex",
    "shutil",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "timeit",
    "tokenize",
    "typing",
    "unittest",
    "uuid",
    "warnings",
    "weakref",
    "zipfile",
)


@dataclass(frozen=True)
class Document:
    name: str
    text: str


@dataclass(frozen=True)
class DialogueRecord:
    prompt: str
    response: str
    weight: float = 1.0


def _module_docstrings(name: str) -> str:
    spec = importlib.util.find_spec(name)
    origin = spec.origin if spec is not None else None
    if origin is None or not origin.endswith(".py"):
        return ""
    tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef))]
    docs = (ast.get_docstring(n) for n in nodes)
    return "\n\n".join(d for d in docs if d)


_CORPUS_LOCK = threading.Lock()
_CORPUS: list[tuple[Document, ...]] = []


def default_corpus() -> list[Document]:
    """Documents from Python's own help topics and standard-library docstrings.

    Built once per process under a lock: reading docstrings runs ``ast.parse``, which is not
    thread-safe on CPython 3.11 (gh-106905: two training jobs starting together in one worker
    failed with "AST constructor recursion depth mismatch"). Documents are frozen, so the cached
    tuple is shared and each caller gets its own list.
    """
    with _CORPUS_LOCK:
        if not _CORPUS:
            _CORPUS.append(tuple(_build_default_corpus()))
        return list(_CORPUS[0])


def _build_default_corpus() -> list[Document]:
    from pydoc_data.topics import topics

    docs = [Document(f"pydoc:{key}", topics[key]) for key in sorted(topics)]
    for name in STDLIB_MODULES:
        text = _module_docstrings(name)
        if text:
            docs.append(Document(f"stdlib:{name}", text))
    return docs


def is_held_out(name: str, fraction: float = 0.1) -> bool:
    return zlib.crc32(name.encode("utf-8")) % 1000 < int(fraction * 1000)


def split_documents(
    docs: Sequence[Document], fraction: float = 0.1
) -> tuple[list[Document], list[Document]]:
    """(train, held-out), by a hash of each name; never leaves either side empty."""
    if len(docs) < 2:
        raise DataError(f"need at least 2 documents to split, got {len(docs)}", len(docs))
    train = [d for d in docs if not is_held_out(d.name, fraction)]
    held = [d for d in docs if is_held_out(d.name, fraction)]
    if not held:
        train, held = train[:-1], train[-1:]
    if not train:
        train, held = held[:-1], held[-1:]
    return train, held


def load_text(path: str | Path) -> list[Document]:
    """A plain-text file as one document per blank-line-separated paragraph block."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot read text: {exc}", str(file)) from exc
    blocks = [b.strip() for b in text.split("\n\n\n") if b.strip()]
    return [Document(f"{file.name}:{i}", b) for i, b in enumerate(blocks)]


def load_jsonl(path: str | Path, kind: RecordKind) -> list[Document] | list[DialogueRecord]:
    """Parse a JSONL file as `kind` records; errors name `file:line`."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot read JSONL: {exc}", str(file)) from exc
    texts: list[Document] = []
    dialogues: list[DialogueRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON: {exc.msg}", where) from exc
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}", where)
        if kind == "text":
            texts.append(Document(where, _string_field(obj, "text", where)))
        else:
            dialogues.append(parse_dialogue(obj, kind, where))
    return texts if kind == "text" else dialogues


def parse_dialogue(obj: dict[str, Any], kind: RecordKind, where: str) -> DialogueRecord:
    prompt = _string_field(obj, "prompt", where)
    if kind == "function_calling":
        return DialogueRecord(prompt, canonical_call(obj.get("response"), where))
    response = _string_field(obj, "response", where)
    if kind == "empathy":
        score = obj.get("empathy")
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise DataError(f"{where}: 'empathy' must be a number in [0, 1], got {score!r}", where)
        return DialogueRecord(prompt, response, float(score))
    return DialogueRecord(prompt, response)


def canonical_call(response: Any, where: str) -> str:
    """Validate a function call and return it as compact JSON with sorted keys."""
    call = response
    if isinstance(response, str):
        try:
            call = json.loads(response)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: 'response' is not valid JSON: {exc.msg}", where) from exc
    if not isinstance(call, dict):
        raise DataError(f"{where}: function call must be a JSON object, got {call!r}", where)
    if not isinstance(call.get("name"), str) or not call["name"]:
        raise DataError(f"{where}: function call needs a string 'name'", where)
    if not isinstance(call.get("arguments"), dict):
        raise DataError(f"{where}: function call needs an object 'arguments'", where)
    return json.dumps(call, sort_keys=True, separators=(",", ":"))


def _string_field(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise DataError(f"{where}: field '{key}' must be a non-empty string, got {value!r}", where)
    return value
