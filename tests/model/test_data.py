from __future__ import annotations

import json
from pathlib import Path

import pytest

from model import (
    DataError,
    DialogueRecord,
    Document,
    Tokenizer,
    default_corpus,
    load_jsonl,
    load_text,
    split_documents,
)
from model.batches import DialogueSet, TokenStream
from model.outputs import IGNORE


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines), encoding="utf-8"
    )
    return path


def test_default_corpus_is_python_help_and_docstrings_in_a_fixed_order() -> None:
    first, second = default_corpus(), default_corpus()
    assert [d.name for d in first] == [d.name for d in second]
    assert any(d.name.startswith("pydoc:") for d in first)
    assert any(d.name.startswith("stdlib:") for d in first)
    assert sum(len(d.text) for d in first) > 200_000


def test_held_out_split_is_deterministic_disjoint_and_order_independent(
    corpus: tuple[list[Document], list[Document]],
) -> None:
    train, held = corpus
    _, again_held = split_documents(list(reversed(default_corpus())))
    assert {d.name for d in held} == {d.name for d in again_held}
    assert not {d.name for d in train} & {d.name for d in held}
    assert 0 < len(held) < len(train)


def test_plain_text_files_become_documents(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("first block\n\n\nsecond block", encoding="utf-8")
    assert [d.text for d in load_text(file)] == ["first block", "second block"]


def test_jsonl_kinds_parse_into_records(tmp_path: Path) -> None:
    text = load_jsonl(_write(tmp_path / "t.jsonl", [{"text": "hello"}]), "text")
    dialogue = load_jsonl(
        _write(tmp_path / "d.jsonl", [{"prompt": "hi", "response": "hello"}]), "dialogue"
    )
    empathy = load_jsonl(
        _write(tmp_path / "e.jsonl", [{"prompt": "sad", "response": "I hear you", "empathy": 0.8}]),
        "empathy",
    )
    call = {"prompt": "weather?", "response": {"name": "weather", "arguments": {"city": "Oslo"}}}
    calls = load_jsonl(_write(tmp_path / "f.jsonl", [call]), "function_calling")
    assert text == [Document(f"{tmp_path / 't.jsonl'}:1", "hello")]
    assert dialogue == [DialogueRecord("hi", "hello", 1.0)]
    assert empathy == [DialogueRecord("sad", "I hear you", 0.8)]
    assert isinstance(calls[0], DialogueRecord)
    assert json.loads(calls[0].response) == call["response"]


@pytest.mark.parametrize(
    ("kind", "bad", "reason"),
    [
        ("text", "{not json", "invalid JSON"),
        ("text", {"txt": "x"}, "'text'"),
        ("dialogue", {"prompt": "a"}, "'response'"),
        ("empathy", {"prompt": "a", "response": "b", "empathy": 3}, "empathy"),
        ("function_calling", {"prompt": "a", "response": '{"name": 1}'}, "'name'"),
        (
            "function_calling",
            {"prompt": "a", "response": {"name": "f", "arguments": []}},
            "'arguments'",
        ),
        ("function_calling", {"prompt": "a", "response": "not json"}, "not valid JSON"),
    ],
)
def test_a_bad_line_is_reported_with_its_line_number(
    tmp_path: Path, kind: str, bad: object, reason: str
) -> None:
    good = {"text": "ok", "prompt": "p", "response": {"name": "f", "arguments": {}}, "empathy": 0.5}
    good = good if kind != "dialogue" else {"prompt": "p", "response": "r"}
    if kind in ("dialogue", "empathy"):
        good = {"prompt": "p", "response": "r", "empathy": 0.5}
    file = _write(tmp_path / "x.jsonl", [good, "", bad])
    with pytest.raises(DataError, match=reason) as info:
        load_jsonl(file, kind)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{file}:3:")


def test_text_windows_are_sequence_length_and_labels_equal_inputs(tokenizer: Tokenizer) -> None:
    import torch

    stream = TokenStream.from_documents([Document("a", "some text " * 50)], tokenizer, 16)
    batch = stream.sample(4, torch.Generator().manual_seed(0))
    assert batch.ids.shape == (4, 16)
    assert torch.equal(batch.ids, batch.labels)


def test_dialogue_labels_cover_only_the_response_and_eos(tokenizer: Tokenizer) -> None:
    records = [
        DialogueRecord("a question here", "an answer"),
        DialogueRecord("q", "a much longer answer here"),
    ]
    batch = next(DialogueSet(records, tokenizer, 64).batches(2))
    for row in range(2):
        labelled = batch.ids[row][batch.labels[row] != IGNORE].tolist()
        assert tokenizer.decode(labelled) == records[row].response
        assert labelled[-1] == tokenizer.eos_id
    assert batch.weights is not None and batch.weights.tolist() == [1.0, 1.0]


def test_the_default_corpus_can_be_built_from_many_threads_at_once() -> None:
    # regression: ast.parse in two job threads at once failed on CPython 3.11 (gh-106905)
    from concurrent.futures import ThreadPoolExecutor

    from model.data import default_corpus

    with ThreadPoolExecutor(max_workers=4) as pool:
        corpora = list(pool.map(lambda _: default_corpus(), range(8)))
    assert all(c == corpora[0] for c in corpora) and len(corpora[0]) > 10
    corpora[0].pop()  # each caller owns its list
    assert len(default_corpus()) == len(corpora[1])
