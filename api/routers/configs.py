"""Configuration help: job templates, validation, JSON schemas, model and training presets.

Pure reads of ``model/``'s own definitions (``configs:read``): nothing here is stored, so every
answer follows the code the workers run. ``validate`` applies the very checks ``ModelConfig`` and
``TrainingConfig`` apply, and a bad value is a ``422`` naming its field.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, TypeAdapter

from api.auth.permissions import Permission
from api.auth.principal import Principal, require
from api.validation import (
    TUNABLE,
    check_hyperparameters,
    check_model_config,
    check_training_config,
)
from api.wire.training import NewJob
from model import ModelConfig, TrainingConfig, preset, preset_names

router = APIRouter(prefix="/api/v1/configs", tags=["configs"])
Reader = Annotated[Principal, Depends(require(Permission.CONFIGS_READ))]

TRAINING_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"max_steps": 10, "hyperparameters": {"learning_rate": 3e-3, "warmup_steps": 1}},
    "quick": {"max_steps": 100, "hyperparameters": {"learning_rate": 3e-3, "warmup_steps": 10}},
    "standard": {
        "max_steps": 2000,
        "hyperparameters": {"learning_rate": 1e-3, "warmup_steps": 100},
    },
    "long": {
        "max_steps": 20000,
        "hyperparameters": {"learning_rate": 5e-4, "warmup_steps": 500, "weight_decay": 0.05},
    },
}


class ToValidate(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "model": {"preset": "tiny", "n_layers": 3},
                    "training": {"learning_rate": 0.001},
                    "hyperparameters": {"warmup_steps": 5},
                }
            ]
        }
    }
    model: dict[str, Any] = Field(default_factory=dict, description="ModelConfig fields (+preset)")
    training: dict[str, Any] = Field(default_factory=dict, description="TrainingConfig fields")
    hyperparameters: dict[str, float] = Field(default_factory=dict, description="a job's overrides")


class Validated(BaseModel):
    valid: bool
    model: dict[str, Any]
    training: dict[str, Any]


def _job_template(training_type: str, dataset_id: str) -> dict[str, Any]:
    return NewJob(
        preset="tiny",
        training_type=training_type,
        dataset_id=dataset_id,
        max_steps=100,
    ).model_dump(mode="json", exclude_none=True)


@router.get("/templates", summary="Ready-to-edit training job bodies, one per training type")
async def templates(principal: Reader) -> dict[str, dict[str, Any]]:
    return {
        "standard": _job_template("standard", "default"),
        "dialogue": _job_template("dialogue", "<a dialogue dataset id>"),
        "empathy": _job_template("empathy", "<an empathy dataset id>"),
        "function_calling": _job_template("function_calling", "<a function-calling dataset id>"),
    }


@router.post("/validate", response_model=Validated, summary="Check a model/training config")
async def validate(body: ToValidate, principal: Reader) -> Validated:
    model = check_model_config(body.model)
    check_hyperparameters(body.hyperparameters)
    training = check_training_config(body.training)
    return Validated(valid=True, model=model.to_dict(), training=dataclasses.asdict(training))


@router.get("/schema", summary="JSON schemas of the model config, training config and job body")
async def schema(principal: Reader) -> dict[str, Any]:
    return {
        "model": TypeAdapter(ModelConfig).json_schema(),
        "training": TypeAdapter(TrainingConfig).json_schema(),
        "job": NewJob.model_json_schema(),
        "tunable_hyperparameters": list(TUNABLE),
    }


@router.get("/presets/models", summary="Model presets and the configs they expand to")
async def model_presets(principal: Reader) -> dict[str, dict[str, Any]]:
    return {name: preset(name).to_dict() for name in preset_names()}


@router.get("/presets/training", summary="Training presets (steps and hyperparameters)")
async def training_presets(principal: Reader) -> dict[str, dict[str, Any]]:
    return TRAINING_PRESETS
