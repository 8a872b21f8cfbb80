"""``python -m cli`` runs the ``qllm`` command (the console script when the package is installed)."""

from cli.main import app

app(prog_name="qllm")
