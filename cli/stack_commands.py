"""``qllm up | down | status | serve``: thin wrappers over ``compose.stack`` and ``compose.serve``
(the launcher's own messages and health table are printed as they are)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import exit_codes


def up() -> None:
    """Start the local Kafka, Cassandra and Redis (idempotent)."""
    from compose import stack

    raise typer.Exit(stack.main(["up"]))


def down(
    wipe: Annotated[bool, typer.Option(help="also delete the stack's data")] = False,
) -> None:
    """Stop the local stack's servers (only those it started)."""
    from compose import stack

    raise typer.Exit(stack.main(["down", *(["--wipe"] if wipe else [])]))


def status() -> None:
    """Health of each local server; exits 7 unless all are ready."""
    from compose import stack

    code = stack.main(["status"])
    raise typer.Exit(exit_codes.OK if code == 0 else exit_codes.STACK_DOWN)


def serve() -> None:
    """Run the API, stream processor and workers in the foreground (Ctrl-C stops them)."""
    from compose import serve as service

    raise typer.Exit(service.main())


def register(app: typer.Typer) -> None:
    for command in (up, down, status, serve):
        app.command()(command)
