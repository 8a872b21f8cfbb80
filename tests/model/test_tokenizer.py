from __future__ import annotations

from pathlib import Path

import pytest

from model import Tokenizer, TokenizerError

SAMPLES = ["plain ascii text", "ünïcödé — ✓ 日本語", "tabs\tand\nnewlines  ", '{"json": [1, 2.5]}']


@pytest.mark.parametrize("text", SAMPLES)
def test_any_text_round_trips(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_bpe_merges_make_common_text_shorter_than_its_bytes(tokenizer: Tokenizer) -> None:
    text = "The function returns the value of the object."
    assert len(tokenizer.encode(text)) < len(text.encode()) / 2


def test_a_saved_tokenizer_loads_with_identical_ids(tokenizer: Tokenizer, tmp_path: Path) -> None:
    tokenizer.save(tmp_path)
    loaded = Tokenizer.load(tmp_path)
    assert loaded.vocab_size == tokenizer.vocab_size
    assert all(loaded.encode(t) == tokenizer.encode(t) for t in SAMPLES)
    assert (loaded.pad_id, loaded.eos_id) == (tokenizer.pad_id, tokenizer.eos_id)


def test_special_token_text_in_input_is_not_a_special_token(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("<|eos|>")
    assert tokenizer.eos_id not in ids


def test_bos_and_eos_are_added_on_request_and_skipped_on_decode(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("hi", add_bos=True, add_eos=True)
    assert ids[0] == tokenizer.bos_id and ids[-1] == tokenizer.eos_id
    assert tokenizer.decode(ids) == "hi"


def test_every_byte_is_a_single_token(tokenizer: Tokenizer) -> None:
    assert all(len(tokenizer.encode(chr(c))) == 1 for c in range(32, 127))


def test_too_small_a_vocabulary_is_rejected() -> None:
    with pytest.raises(TokenizerError, match="vocab_size=100"):
        Tokenizer.train(["abc"], vocab_size=100)


def test_loading_a_missing_tokenizer_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no tokenizer"):
        Tokenizer.load(tmp_path / "nowhere")
