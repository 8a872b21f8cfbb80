"""The error hierarchy of the model package.

Every error carries the offending value so a caller (a worker turning it into an event, an API
handler turning it into a response) can report it without parsing the message.
"""

from __future__ import annotations

from typing import Any


class ModelError(Exception):
    """Base of every error raised by `model`."""

    def __init__(self, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.value = value


class ConfigError(ModelError):
    """A model, training or generation configuration holds an invalid value."""


class TokenizerError(ModelError):
    """A tokenizer could not be trained, loaded or used."""


class DataError(ModelError):
    """A data file or record is malformed; `value` names the file and line."""


class CheckpointError(ModelError):
    """A checkpoint is missing, incomplete or incompatible."""


class GenerationError(ModelError):
    """A generation request cannot be served (e.g. the prompt does not fit)."""


class SchemaError(ModelError):
    """A JSON schema is outside the supported subset, or an instance does not validate."""
