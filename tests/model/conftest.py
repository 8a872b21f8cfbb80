"""Shared fixtures for the model tests: one small tokenizer trained on the default corpus, the
corpus split, and a tiny config sized to that tokenizer. Everything runs on the CPU."""

from __future__ import annotations

import pytest
import torch

from model import ModelConfig, Tokenizer, default_corpus, preset, split_documents
from model.data import Document

# The tensors here are tiny: a second intra-op thread gains nothing and, on a shared 2-core
# machine, its spin-waiting makes every op far slower. One thread keeps the suite fast and steady.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def corpus() -> tuple[list[Document], list[Document]]:
    return split_documents(default_corpus())


@pytest.fixture(scope="session")
def tokenizer(corpus: tuple[list[Document], list[Document]]) -> Tokenizer:
    train, _ = corpus
    return Tokenizer.train([d.text for d in train], vocab_size=384)


@pytest.fixture(scope="session")
def tiny(tokenizer: Tokenizer) -> ModelConfig:
    return preset("tiny", vocab_size=tokenizer.vocab_size, d_model=32, base_dim=16, hcw_slots=8)
