"""The ``qllm`` command: ``app`` is the console script's entry point (``qllm = "cli.main:app"``).

Global options come before the command: ``qllm --json --url http://host:8000 jobs list``.
Exit codes are documented in ``cli.exit_codes``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli import auth_commands, inference_commands, job_commands, model_commands, stack_commands
from cli.session import Options

app = typer.Typer(
    name="qllm",
    help="Train and serve QLLM: the local stack, the service, jobs, models and inference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(envvar="QLLM_URL", help="the API's base URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    ctx.obj = Options(url, as_json)


for module in (stack_commands, auth_commands, model_commands, job_commands, inference_commands):
    module.register(app)

if __name__ == "__main__":
    app()
