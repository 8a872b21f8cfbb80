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
    session.show(ctx, model, lambda: session.fields(model))


@models.command("extensions")
def model_extensions(ctx: typer.Context, model_id: str) -> None:
    """The model's extensions: switched on or not, and their settings."""
    with session.client(ctx) as qllm:
        found = qllm.model_extensions(model_id)

    def human() -> None:
        for ext in found:
            settings = ", ".join(f"{k}={v}" for k, v in ext.settings.items()) or "—"
            state = "[green]on[/] " if ext.enabled else "[dim]off[/]"
            session.out().print(f"{state} [bold]{ext.name:<11}[/] {settings}")

    session.show(ctx, found, human)


def _settings(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--set")
        found[key] = value
    return found


@models.command("extension")
def configure_extension(
    ctx: typer.Context,
    model_id: str,
    name: Annotated[str, typer.Argument(help="memory, multimodal, quantum or observer")],
    enabled: Annotated[bool | None, typer.Option("--on/--off", help="switch it")] = None,
    settings: Annotated[list[str] | None, typer.Option("--set", help="key=value")] = None,
) -> None:
    """Switch one extension of a model and/or change its settings (from its next training)."""
    change = _settings(settings or [])
    if enabled is None and not change:
        raise typer.BadParameter("nothing to change: give --on, --off or --set key=value")
    with session.client(ctx) as qllm:
        accepted = qllm.configure_extension(
            model_id, name, enabled=enabled, settings=change or None
        )
    _accepted(ctx, accepted, f"configuring {name} of {model_id} (applies from its next training)")


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
