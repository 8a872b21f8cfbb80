"""Domain validation at the edge: model and training configuration checked with ``model/``'s
own rules, and a ``422`` that names the field in the same shape as a request-body error.

The training worker applies a job's ``hyperparameters`` as ``TrainingConfig`` overrides; the
names it accepts are listed here (``TUNABLE``; a test holds it equal to the worker's list) so a
job the worker would refuse is refused at submission instead.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from api.errors import ValidationFailed
from model import ConfigError, ModelConfig, TrainingConfig, preset, preset_names

TUNABLE = (
    "learning_rate",
    "weight_decay",
    "warmup_steps",
    "min_lr_ratio",
    "grad_clip",
    "accumulation",
    "seed",
    "eval_batches",
    "keep_checkpoints",
)
_INTEGRAL = {f.name for f in dataclasses.fields(TrainingConfig) if f.type in ("int", int)}


def field_error(field: str, message: str, value: Any = None) -> ValidationFailed:
    """A 422 naming ``field`` (dotted path), like FastAPI's body validation errors."""
    entry = {"field": field, "location": "body", "message": message, "type": "value_error"}
    details: dict[str, Any] = {"fields": [entry]}
    if value is not None:
        details["value"] = value
    return ValidationFailed(f"invalid request: {field}: {message}", details=details, param=field)


def check_preset(name: str, field: str = "preset") -> ModelConfig:
    try:
        return preset(name)
    except ConfigError as exc:
        raise field_error(field, f"unknown preset; one of {list(preset_names())}", name) from exc


def check_hyperparameters(values: dict[str, float], field: str = "hyperparameters") -> None:
    """Each override a known ``TrainingConfig`` field whose value ``TrainingConfig`` accepts."""
    for name, value in values.items():
        where = f"{field}.{name}"
        if name not in TUNABLE:
            raise field_error(where, f"unknown hyperparameter; known: {list(TUNABLE)}", name)
        if name in _INTEGRAL and float(value) != int(value):
            raise field_error(where, "must be a whole number", value)
        typed = int(value) if name in _INTEGRAL else value
        try:
            TrainingConfig(**{name: typed})  # type: ignore[arg-type]
        except (ConfigError, TypeError, ValueError) as exc:
            raise field_error(where, str(exc), value) from exc


def check_model_config(values: dict[str, Any], field: str = "model") -> ModelConfig:
    """A ``ModelConfig`` from ``values`` (optionally on a ``preset``), naming the bad field."""
    values = dict(values)
    base = check_preset(values.pop("preset"), f"{field}.preset") if "preset" in values else None
    try:
        if base is None:
            return ModelConfig.from_dict(values)
        return ModelConfig.from_dict({**base.to_dict(), **values})
    except ConfigError as exc:
        raise field_error(f"{field}.{_field_of(str(exc), exc.value)}", str(exc), exc.value) from exc
    except TypeError as exc:
        raise field_error(field, str(exc)) from exc


def check_training_config(values: dict[str, Any], field: str = "training") -> TrainingConfig:
    for name, value in values.items():
        try:
            TrainingConfig(**{name: value})
        except TypeError as exc:
            raise field_error(f"{field}.{name}", "unknown training field", name) from exc
        except ConfigError as exc:
            raise field_error(f"{field}.{name}", str(exc), value) from exc
    return TrainingConfig(**values)


def _field_of(message: str, value: Any) -> str:
    """The field a ``ConfigError`` message starts with (``d_model=… …``, ``primes contains …``)."""
    if message.startswith("unknown config field"):
        return str(value[0]) if isinstance(value, list) and value else "?"
    head = message.split("=", 1)[0].split(" ", 1)[0]
    return head or "?"
