"""``qllm models list | create | show | load | unload``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import session
from sdk.models import Accepted

models = typer.Typer(help="Models: list, register, inspect, load into / unload from inference.",
                     no_args_is_help=True)  # fmt: skip


def _accepted(ctx: typer.Context, accepted: Accepted, what: str) -> None:
    if session.options(ctx).as_json:
        session.emit_json({"location": accepted.location, **accepted.body})
        return
    session.out().print(f"{what} (accepted; see {accepted.location})")


@models.command("list")
def list_models(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="only this status, e.g. READY")] = None,
) -> None:
    """Models, newest first."""
    with session.client(ctx) as qllm:
        page = qllm.list_models(status=status)
    if session.options(ctx).as_json:
        session.emit_json(page.items)
        return
    table = Table("model id", "status", "preset", "owner", "checkpoint step", "description")
    for model in page.items:
        table.add_row(model.model_id, model.status, model.preset, model.owner,
                      str(model.checkpoint_step), model.description)  # fmt: skip
    session.out().print(table)


@models.command("create")
def create_model(
    ctx: typer.Context,
    preset: Annotated[str, typer.Option(help="model preset")] = "tiny",
    model_id: Annotated[str | None, typer.Option("--id", help="default: generated")] = None,
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Register a model (it gets weights by training)."""
    with session.client(ctx) as qllm:
        accepted = qllm.create_model(preset=preset, model_id=model_id, description=description)
    _accepted(ctx, accepted, f"registering model {accepted.resource_id}")


@models.command("show")
def show_model(ctx: typer.Context, model_id: str) -> None:
    """One model as it is now."""
    with session.client(ctx) as qllm:
        model = qllm.get_model(model_id)
    if session.options(ctx).as_json:
        session.emit_json(model)
        return
    for name, value in model.model_dump().items():
        session.out().print(f"[bold]{name:<16}[/] {value if value is not None else '—'}")


@models.command("load")
def load_model(ctx: typer.Context, model_id: str) -> None:
    """Load a READY model into an inference worker's memory."""
    with session.client(ctx) as qllm:
        accepted = qllm.load_model(model_id)
    _accepted(ctx, accepted, f"loading {model_id}")


@models.command("unload")
def unload_model(ctx: typer.Context, model_id: str) -> None:
    """Drop a model from inference memory."""
    with session.client(ctx) as qllm:
        accepted = qllm.unload_model(model_id)
    _accepted(ctx, accepted, f"unloading {model_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(models, name="models")
