"""The ``qllm`` command line (typer + rich): the local stack, the service, and the API (via
``sdk``)."""
