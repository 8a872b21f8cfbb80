"""``qllm login | logout | whoami`` and ``qllm keys create | list | revoke``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import profile, session

keys = typer.Typer(help="API keys (admins): create, list, revoke.", no_args_is_help=True)


def login(
    ctx: typer.Context,
    username: Annotated[str, typer.Option("--username", "-u", prompt=True)],
    password: Annotated[str, typer.Option("--password", "-p", prompt=True, hide_input=True)],
) -> None:
    """Log in with a password; the token pair is kept (mode 600) and refreshed as it ages."""
    stored = profile.load(session.options(ctx).url)
    profile.save(profile.Profile(url=stored.url))  # a new login replaces any stored identity
    with session.client(ctx) as qllm:
        qllm.auth = None
        qllm.login(username, password)  # on_tokens stores the pair
        me = qllm.me()
    if session.options(ctx).as_json:
        session.emit_json({"subject": me.subject, "role": me.role, "url": stored.url,
                           "credentials": str(profile.path())})  # fmt: skip
        return
    session.out().print(f"logged in to {stored.url} as [bold]{me.subject}[/] ({me.role})")


def logout() -> None:
    """Forget the stored credentials."""
    session.out().print("logged out" if profile.forget() else "was not logged in")


def whoami(ctx: typer.Context) -> None:
    """Who the stored credentials are."""
    with session.client(ctx) as qllm:
        me = qllm.me()
    if session.options(ctx).as_json:
        session.emit_json(me)
        return
    session.out().print(f"{me.subject} ({me.role}, {me.kind}, tier {me.tier})")


@keys.command("create")
def create_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="what the key is for")],
    role: Annotated[str, typer.Option(help="admin, trainer, user or readonly")] = "user",
    tier: Annotated[str, typer.Option(help="rate-limit tier")] = "standard",
) -> None:
    """Create an API key; its secret is printed this once."""
    with session.client(ctx) as qllm:
        created = qllm.create_key(name, role, tier)
    if session.options(ctx).as_json:
        session.emit_json(created)
        return
    session.out().print(f"key {created.key_id} ({created.role}, {created.tier})")
    session.out().print(f"[bold]{created.api_key}[/]  (shown once: store it now)")


@keys.command("list")
def list_keys(ctx: typer.Context) -> None:
    """API keys, without their secrets."""
    with session.client(ctx) as qllm:
        found = qllm.list_keys()
    if session.options(ctx).as_json:
        session.emit_json(found)
        return
    table = Table("key id", "name", "role", "tier", "owner", "created", "revoked")
    for key in found:
        table.add_row(key.key_id, key.name, key.role, key.tier, key.owner,
                      f"{key.created_at:%Y-%m-%d %H:%M}",
                      f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "")  # fmt: skip
    session.out().print(table)


@keys.command("revoke")
def revoke_key(ctx: typer.Context, key_id: str) -> None:
    """Revoke an API key at once."""
    with session.client(ctx) as qllm:
        qllm.revoke_key(key_id)
    if session.options(ctx).as_json:
        session.emit_json({"key_id": key_id, "revoked": True})
        return
    session.out().print(f"revoked {key_id}")


def register(app: typer.Typer) -> None:
    for command in (login, logout, whoami):
        app.command()(command)
    app.add_typer(keys, name="keys")
