"""``python -m cli`` runs the ``qllm`` command (the console script of an installed package)."""

from cli.main import app

app(prog_name="qllm")
