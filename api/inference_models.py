"""Request and response models of ``/api/v1/inference`` (the HTTP wire; logic is elsewhere)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MODEL_EXAMPLE = "preset:tiny"


class Sampling(BaseModel):
    model: str = Field(min_length=1, max_length=256, examples=[MODEL_EXAMPLE])
    max_tokens: int = Field(64, ge=1, description="capped by the server's inference_max_tokens")
    temperature: float = Field(1.0, ge=0.0, le=5.0, description="0: greedy")
    top_k: int = Field(0, ge=0, description="0: off")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list, max_length=8)
    seed: int | None = None
    stream: bool = Field(False, description="answer as server-sent events: chunk…, then done")


class GenerateIn(Sampling):
    model_config = {"json_schema_extra": {"examples": [
        {"model": MODEL_EXAMPLE, "prompt": "def add(a, b):", "max_tokens": 16, "temperature": 0}
    ]}}  # fmt: skip
    prompt: str = Field(min_length=1, max_length=32_000)


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=32_000)


class ChatIn(Sampling):
    model_config = {"json_schema_extra": {"examples": [
        {"model": MODEL_EXAMPLE, "messages": [{"role": "user", "content": "hello"}]}
    ]}}  # fmt: skip
    messages: list[ChatMessage] = Field(min_length=1, max_length=256)


class BatchIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [
        {"model": MODEL_EXAMPLE, "prompts": ["import os", "class A:"], "max_tokens": 8}
    ]}}  # fmt: skip
    model: str = Field(min_length=1, max_length=256)
    prompts: list[str] = Field(min_length=1, max_length=64)
    max_tokens: int = Field(64, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=5.0)


class EmbeddingsIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [
        {"model": MODEL_EXAMPLE, "texts": ["alpha", "beta"]}
    ]}}  # fmt: skip
    model: str = Field(min_length=1, max_length=256)
    texts: list[str] = Field(min_length=1, max_length=256)


class SimilarityIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [
        {"model": MODEL_EXAMPLE, "text_a": "a cat", "text_b": "a kitten"}
    ]}}  # fmt: skip
    model: str = Field(min_length=1, max_length=256)
    text_a: str = Field(min_length=1, max_length=32_000)
    text_b: str = Field(min_length=1, max_length=32_000)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class GenerateOut(BaseModel):
    request_id: str
    model: str
    text: str
    finish_reason: str
    usage: Usage


class ChatOut(BaseModel):
    request_id: str
    model: str
    message: ChatMessage
    finish_reason: str
    usage: Usage


class BatchOut(BaseModel):
    request_id: str
    model: str
    texts: list[str]


class EmbeddingsOut(BaseModel):
    request_id: str
    model: str
    dimensions: int
    embeddings: list[list[float]]


class SimilarityOut(BaseModel):
    request_id: str
    model: str
    similarity: float = Field(description="cosine similarity of the two texts' embeddings")


class Capabilities(BaseModel):
    model_id: str
    preset: str
    owner: str
    kinds: list[str]
    streaming: bool
    context_length: int
    vocab_size: int
    max_tokens: int = Field(description="the most new tokens one request may ask for")
