"""The training worker: jobs from ``qllm.commands.training`` run with ``model/`` in a thread."""
