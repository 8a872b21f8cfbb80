"""Byte-level BPE tokenizer, trained locally with HF `tokenizers` (nothing is downloaded).

The initial alphabet holds all 256 byte symbols, so every string encodes and decodes losslessly
and every single byte is a token of its own (structured decoding relies on that). Special tokens:
`<|pad|>`, `<|bos|>`, `<|eos|>`, `<|user|>`, `<|assistant|>`; they are never produced by encoding
text, even text that spells one out (so a prompt cannot inject an `<|eos|>`). Saved as one
`tokenizer.json` beside a checkpoint's weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from model.errors import TokenizerError

PAD, BOS, EOS, USER, ASSISTANT = "<|pad|>", "<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>"
SPECIAL_TOKENS = (PAD, BOS, EOS, USER, ASSISTANT)
FILE_NAME = "tokenizer.json"


class Tokenizer:
    def __init__(self, backend: HFTokenizer) -> None:
        self._tok = backend
        backend.encode_special_tokens = True  # "<|eos|>" typed by a user is text, not a control
        found = [backend.token_to_id(t) for t in SPECIAL_TOKENS]
        ids = [i for i in found if i is not None]
        if len(ids) != len(SPECIAL_TOKENS):
            raise TokenizerError("tokenizer lacks the special tokens", SPECIAL_TOKENS)
        self.pad_id, self.bos_id, self.eos_id, self.user_id, self.assistant_id = ids

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int = 512, min_frequency: int = 2
    ) -> Tokenizer:
        """Train on `texts`; `vocab_size` counts the 256 bytes and the special tokens."""
        floor = 256 + len(SPECIAL_TOKENS)
        if vocab_size < floor:
            raise TokenizerError(f"vocab_size={vocab_size} must be >= {floor}", vocab_size)
        backend = HFTokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        backend.train_from_iterator(texts, trainer=trainer)
        return cls(backend)

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Load from a `tokenizer.json` file or a directory holding one."""
        file = Path(path)
        file = file / FILE_NAME if file.is_dir() else file
        if not file.is_file():
            raise TokenizerError(f"no tokenizer at {file}", str(file))
        return cls(HFTokenizer.from_file(str(file)))

    def save(self, path: str | Path) -> Path:
        """Save to `path` (a directory gets `tokenizer.json`); returns the file written."""
        file = Path(path)
        file = file / FILE_NAME if file.is_dir() or not file.suffix else file
        file.parent.mkdir(parents=True, exist_ok=True)
        self._tok.save(str(file))
        return file

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size())

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = list(self._tok.encode(text, add_special_tokens=False).ids)
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [list(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        return str(self._tok.decode(list(ids), skip_special_tokens=skip_special))

    def token_text(self, token_id: int) -> str:
        """The text of one token alone (a partial UTF-8 byte decodes to U+FFFD)."""
        return self.decode([token_id], skip_special=False)

    def to_json(self) -> str:
        return str(self._tok.to_str())

    @classmethod
    def from_json(cls, data: str) -> Tokenizer:
        return cls(HFTokenizer.from_str(data))
