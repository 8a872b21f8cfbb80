"""Structured output: decoding constrained to a JSON schema, so the result always validates.

The schema is compiled (`json_schema.compile_schema`) and walked by a character-level pushdown
automaton whose state is an immutable stack of frames; a token is allowed when every character
of its text is accepted from the current state. At each step the decoder tries the model's
candidates best-first and takes the best allowed one (greedy) or samples among the allowed ones
within the top 64. Single-byte tokens always exist in the byte-level vocabulary and every
unfinished state accepts some character, so decoding never gets stuck; strings, numbers and arrays
are bounded, so it always ends, within `max_tokens`.

Deliberate limits: compact JSON (no whitespace), keys in schema order (optional keys may be
skipped), ASCII string content without escapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from model.errors import SchemaError
from model.extensions.json_schema import (
    MAX_NUMBER_CHARS,
    ArrayNode,
    LiteralNode,
    Node,
    NumberNode,
    ObjectNode,
    StringNode,
    compile_schema,
    validate,
)
from model.sampling import GenerationConfig
from model.tokenizer import SPECIAL_TOKENS, Tokenizer

NUMBER_PREFIX = re.compile(r"-?(0|[1-9]\d*)?(\.\d*)?")
NUMBER_DONE = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?")
CANDIDATES = 64


@dataclass(frozen=True)
class Value:
    node: Node


@dataclass(frozen=True)
class Lit:
    options: tuple[str, ...]
    consumed: str = ""


@dataclass(frozen=True)
class Str:
    node: StringNode
    length: int = 0


@dataclass(frozen=True)
class Num:
    integer: bool
    text: str


@dataclass(frozen=True)
class Obj:
    node: ObjectNode
    phase: str = "open"  # open | key | value | after | needkey
    next_index: int = 0
    done: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Arr:
    node: ArrayNode
    phase: str = "open"  # open | item | after | needitem
    count: int = 0


Frame = Value | Lit | Str | Num | Obj | Arr
Stack = tuple[Frame, ...]


def feed(stack: Stack, ch: str) -> Stack | None:
    """The state after reading `ch`, or None when `ch` cannot come next."""
    if not stack:
        return None
    top, rest = stack[-1], stack[:-1]
    if isinstance(top, Value):
        return _start(rest, top.node, ch)
    if isinstance(top, Lit):
        return _feed_literal(rest, top, ch)
    if isinstance(top, Str):
        if ch == '"' and top.length >= top.node.min_length:
            return _child_done(rest, "")
        ok = 32 <= ord(ch) < 127 and ch not in '"\\' and top.length < top.node.max_length
        return (*rest, Str(top.node, top.length + 1)) if ok else None
    if isinstance(top, Num):
        return _feed_number(rest, top, ch)
    if isinstance(top, Obj):
        return _feed_object(rest, top, ch)
    return _feed_array(rest, top, ch)


def _start(rest: Stack, node: Node, ch: str) -> Stack | None:
    if isinstance(node, ObjectNode):
        return (*rest, Obj(node)) if ch == "{" else None
    if isinstance(node, ArrayNode):
        return (*rest, Arr(node)) if ch == "[" else None
    if isinstance(node, StringNode):
        return (*rest, Str(node)) if ch == '"' else None
    if isinstance(node, NumberNode):
        return _feed_number(rest, Num(node.integer, ""), ch)
    return _feed_literal(rest, Lit(node.options), ch)


def _feed_literal(rest: Stack, top: Lit, ch: str) -> Stack | None:
    text = top.consumed + ch
    extending = [o for o in top.options if o.startswith(text)]
    if extending:
        if extending == [text]:
            return _child_done(rest, text)
        return (*rest, Lit(top.options, text))
    if top.consumed in top.options:  # complete, and ch belongs to the parent
        after = _child_done(rest, top.consumed)
        return feed(after, ch) if after is not None else None
    return None


def _feed_number(rest: Stack, top: Num, ch: str) -> Stack | None:
    text = top.text + ch
    fits = len(text) <= MAX_NUMBER_CHARS and not (top.integer and "." in text)
    if fits and NUMBER_PREFIX.fullmatch(text):
        return (*rest, Num(top.integer, text))
    if NUMBER_DONE.fullmatch(top.text):
        after = _child_done(rest, top.text)
        return feed(after, ch) if after is not None else None
    return None


def _eligible_keys(obj: Obj) -> list[str]:
    """Keys that may come next: the following ones up to and including the next required one."""
    keys = []
    for name, _ in obj.node.properties[obj.next_index :]:
        keys.append(name)
        if name in obj.node.required and name not in obj.done:
            break
    return keys


def _feed_object(rest: Stack, top: Obj, ch: str) -> Stack | None:
    may_close = top.node.required <= top.done
    if top.phase in ("open", "after") and ch == "}" and may_close:
        return _child_done(rest, "")
    if top.phase == "after":
        return (*rest, replace(top, phase="needkey")) if ch == "," and _eligible_keys(top) else None
    if top.phase in ("open", "needkey"):
        options = tuple(json.dumps(k) + ":" for k in _eligible_keys(top))
        return (
            _feed_literal((*rest, replace(top, phase="key")), Lit(options), ch) if options else None
        )
    return None


def _feed_array(rest: Stack, top: Arr, ch: str) -> Stack | None:
    node = top.node
    if top.phase in ("open", "after") and ch == "]" and top.count >= node.min_items:
        return _child_done(rest, "")
    if top.phase == "after":
        return (
            (*rest, replace(top, phase="needitem"))
            if ch == "," and top.count < node.max_items
            else None
        )
    if top.phase in ("open", "needitem") and top.count < node.max_items:
        return _start((*rest, replace(top, phase="item")), node.item, ch)
    return None


def _child_done(rest: Stack, literal: str) -> Stack:
    """Pop a finished value and tell its parent (an empty stack means the document is done)."""
    if not rest:
        return ()
    parent, below = rest[-1], rest[:-1]
    if isinstance(parent, Obj) and parent.phase == "key":
        key = json.loads(literal[:-1])
        index = [k for k, _ in parent.node.properties].index(key)
        node = parent.node.properties[index][1]
        updated = replace(parent, phase="value", next_index=index + 1, done=parent.done | {key})
        return (*below, updated, Value(node))
    if isinstance(parent, Obj):
        return (*below, replace(parent, phase="after"))
    if isinstance(parent, Arr):
        return (*below, replace(parent, phase="after", count=parent.count + 1))
    return rest


def can_finish(stack: Stack) -> bool:
    if not stack:
        return True
    if len(stack) != 1:
        return False
    top = stack[0]
    if isinstance(top, Num):
        return bool(NUMBER_DONE.fullmatch(top.text))
    return isinstance(top, Lit) and top.consumed in top.options


def max_chars(node: Node) -> int:
    if isinstance(node, LiteralNode):
        return max(len(o) for o in node.options)
    if isinstance(node, StringNode):
        return node.max_length + 2
    if isinstance(node, NumberNode):
        return MAX_NUMBER_CHARS
    if isinstance(node, ArrayNode):
        return 2 + node.max_items * (max_chars(node.item) + 1)
    return 2 + sum(len(json.dumps(k)) + 2 + max_chars(v) for k, v in node.properties)


class JsonConstraint:
    """Decoding state for one JSON document; `choose` picks a token, `advance` commits it."""

    def __init__(self, schema: dict[str, Any], tokenizer: Tokenizer) -> None:
        self.schema, self.tokenizer = schema, tokenizer
        root = compile_schema(schema)
        self.stack: Stack = (Value(root),)
        self.text, self.complete = "", False
        self.max_tokens = max_chars(root) + 1
        specials = {tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id} | {
            tokenizer.user_id,
            tokenizer.assistant_id,
        }
        self.token_text: list[str | None] = []
        for tid in range(tokenizer.vocab_size):
            text = None if tid in specials else tokenizer.token_text(tid)
            usable = text and text.isascii() and text not in SPECIAL_TOKENS
            self.token_text.append(text if usable else None)

    def _after(self, token: int) -> Stack | None:
        text = self.token_text[token]
        state: Stack | None = self.stack
        for ch in text or "":
            state = feed(state, ch) if state is not None else None
        return state if text else None

    def allows(self, token: int) -> bool:
        if token == self.tokenizer.eos_id:
            return can_finish(self.stack)
        return self._after(token) is not None

    def choose(self, logits: Tensor, config: GenerationConfig, generator: torch.Generator) -> int:
        """The best allowed token (greedy), or a sample among the allowed top candidates."""
        order = logits.argsort(descending=True).tolist()
        allowed = [t for t in order[:CANDIDATES] if self.allows(t)]
        if not allowed:
            allowed = [next(t for t in order[CANDIDATES:] if self.allows(t))]
        if config.greedy or len(allowed) == 1:
            return allowed[0]
        weights = (logits[allowed].float() / config.temperature).softmax(dim=-1)
        pick = torch.multinomial(weights.to(generator.device), 1, generator=generator)
        return allowed[int(pick)]

    def advance(self, token: int) -> None:
        if token == self.tokenizer.eos_id:
            self.complete = True
            return
        state = self._after(token)
        if state is None:
            raise SchemaError(f"token {token} is not allowed here", token)
        self.stack, self.text = state, self.text + (self.token_text[token] or "")
        self.complete = not state

    def value(self) -> Any:
        parsed = json.loads(self.text)
        validate(parsed, self.schema)
        return parsed
