"""The shared state of one ``qllm`` run: global options, the client, and errors turned into
exit codes (``cli.exit_codes``) with one clear line on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console

from cli import exit_codes, profile
from sdk import Client, Tokens, errors

_HINTS = {
    exit_codes.AUTH: "log in with `qllm login` (or set QLLM_API_KEY)",
    exit_codes.UNAVAILABLE: "is the service running? `qllm status`, `qllm serve`",
}


@dataclass(frozen=True)
class Options:
    url: str | None
    as_json: bool


def options(ctx: typer.Context) -> Options:
    found = ctx.find_root().obj
    return found if isinstance(found, Options) else Options(None, False)


def out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    """One JSON document on stdout (models and lists of models included)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    typer.echo(json.dumps(value, default=str))


def show(ctx: typer.Context, value: Any, human: Callable[[], None]) -> None:
    """``value`` as JSON under ``--json``; otherwise ``human()`` prints it for people."""
    if options(ctx).as_json:
        emit_json(value)
    else:
        human()


def fields(value: Any) -> None:
    """A model's fields, one per line, for people."""
    for name, field in value.model_dump().items():
        out().print(f"[bold]{name:<16}[/] {field if field is not None else '—'}")


def fail(message: str, code: int) -> typer.Exit:
    err().print(f"[bold red]error:[/] {message}")
    if code in _HINTS:
        err().print(f"[dim]hint: {_HINTS[code]}[/]")
    return typer.Exit(code)


def describe(error: errors.QllmError) -> str:
    if isinstance(error, errors.ApiError):
        details = ", ".join(f"{k}={v}" for k, v in error.details.items() if k != "fields")
        where = f" [request {error.request_id}]" if error.request_id else ""
        said = f"{error.status} {error.code}" + (f"; {details}" if details else "")
        return f"{error.message} ({said}){where}"
    return str(error)


@contextmanager
def client(ctx: typer.Context) -> Iterator[Client]:
    """A client for the stored profile; refreshed tokens are written back; errors exit."""
    stored = profile.load(options(ctx).url)

    def keep(tokens: Tokens) -> None:
        profile.save(profile.load(stored.url).with_tokens(tokens))

    try:
        with Client(stored.url, auth=stored.auth, on_tokens=keep) as qllm:
            yield qllm
    except errors.QllmError as error:
        raise fail(describe(error), exit_codes.of(error)) from error
    except KeyboardInterrupt:
        raise typer.Exit(exit_codes.INTERRUPTED) from None
