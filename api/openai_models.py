"""OpenAI's wire shapes for ``/v1`` (requests accept and ignore fields this server lacks).

Only what the routes need: requests allow extra fields (clients send ``user``, ``logprobs`` …),
``n`` must be 1, chat message content is a string or a list of text parts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=256, examples=["preset:tiny"])
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: Literal[1] = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class CompletionIn(_Sampling):
    # a list is a batch: at least one prompt (an empty batch has nothing to answer), and no more
    # than ``/api/v1/inference/batch`` takes
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=64)] = Field(
        examples=["def add(a, b):"]
    )


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatCompletionIn(_Sampling):
    messages: list[ChatMessageIn] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)


class EmbeddingIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=256)
    # as ``/api/v1/inference/embeddings``: at least one text, at most 256
    input: str | Annotated[list[str], Field(min_length=1, max_length=256)] = Field(
        examples=[["alpha", "beta"]]
    )
    encoding_format: Literal["float", "base64"] = "float"


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip


def completion_body(
    cid: str, created: int, model: str, choices: list[dict[str, Any]], used: dict[str, int]
) -> dict[str, Any]:
    return {"id": cid, "object": "text_completion", "created": created, "model": model,
            "choices": choices, "usage": used}  # fmt: skip


def chat_body(
    cid: str, created: int, model: str, text: str, reason: str, used: dict[str, int]
) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", "content": text},
              "logprobs": None, "finish_reason": reason}  # fmt: skip
    return {"id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [choice], "usage": used}  # fmt: skip
