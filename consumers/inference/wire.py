"""The batcher's wire: inference commands in (``schemas.inference``), what the batcher needs out.

``RunInference`` v2 carries its kind and options in the record (v1 carried them in Kafka
headers; that fallback is gone: a v1 record decodes as a non-streaming ``generate``). ``chat``
turns ``messages`` into one prompt ending where the assistant speaks; ``embeddings`` and
``batch`` read ``texts`` (or, when empty, the prompt as one text); ``similarity`` exactly two.
A request that breaks these rules is poison (dead-lettered with the reason).
"""

from __future__ import annotations

from consumers.errors import Poison
from schemas.inference import GENERATIVE, KINDS, RunInference

__all__ = ["GENERATIVE", "chat_prompt", "prompt_of", "texts_of"]


def chat_prompt(messages: list[dict[str, str]]) -> str:
    """The chat messages as one prompt, ending where the assistant speaks."""
    try:
        turns = [f"<|{m['role']}|>{m['content']}" for m in messages]
    except KeyError as exc:
        raise Poison("BadChat", f"a chat message lacks {exc}", messages) from exc
    if not turns:
        raise Poison("BadChat", "a chat request without messages", messages)
    return "".join(turns) + "<|assistant|>"


def prompt_of(cmd: RunInference) -> str:
    if cmd.kind not in KINDS:
        raise Poison("UnknownKind", f"kind {cmd.kind!r} is not one of {', '.join(KINDS)}", cmd.kind)
    return chat_prompt(cmd.messages) if cmd.kind == "chat" else cmd.prompt


def texts_of(cmd: RunInference) -> list[str]:
    """The texts of an ``embeddings``, ``similarity`` or ``batch`` request."""
    if cmd.kind in GENERATIVE:
        return []
    texts = list(cmd.texts) or ([cmd.prompt] if cmd.prompt else [])
    if not texts:
        raise Poison("BadTexts", f"a {cmd.kind} request without texts", cmd.kind)
    if cmd.kind == "similarity" and len(texts) != 2:
        raise Poison("BadTexts", f"similarity needs 2 texts, got {len(texts)}", len(texts))
    return texts
