"""``qllm generate`` and ``qllm chat``: text printed as the model streams it."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Annotated

import typer

from cli import session

Model = Annotated[str, typer.Option("--model", "-m", help="a model id, or preset:tiny")]
MaxTokens = Annotated[int, typer.Option(min=1, help="most new tokens")]
Temperature = Annotated[float, typer.Option(min=0.0, help="0: greedy")]


def _print_stream(pieces: Iterable[str]) -> str:
    said = []
    for piece in pieces:
        said.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return "".join(said)


def generate(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="the prompt")],
    model: Model = "preset:tiny",
    max_tokens: MaxTokens = 64,
    temperature: Temperature = 1.0,
) -> None:
    """Continue a prompt, printing the text as it streams (--json: the whole answer)."""
    sampling = {"max_tokens": max_tokens, "temperature": temperature}
    with session.client(ctx) as qllm:
        if session.options(ctx).as_json:
            session.emit_json(qllm.generate(model, prompt, **sampling))
        else:
            _print_stream(qllm.stream_generate(model, prompt, **sampling))


def chat(
    ctx: typer.Context,
    model: Model = "preset:tiny",
    message: Annotated[str | None, typer.Option("--message", help="one turn, then exit")] = None,
    max_tokens: MaxTokens = 64,
    temperature: Temperature = 1.0,
) -> None:
    """Talk to a model: each line you type is a turn; replies stream. Ctrl-D ends."""
    history: list[dict[str, str]] = []
    sampling = {"max_tokens": max_tokens, "temperature": temperature}
    turns = [message] if message is not None else sys.stdin
    with session.client(ctx) as qllm:
        for line in turns:
            if not line.strip():
                continue
            history.append({"role": "user", "content": line.strip()})
            if session.options(ctx).as_json:
                reply = qllm.chat(model, history, **sampling)
                session.emit_json(reply)
                text = reply.message.content
            else:
                sys.stdout.write("assistant> ")
                text = _print_stream(qllm.stream_chat(model, history, **sampling))
            history.append({"role": "assistant", "content": text})


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(chat)
