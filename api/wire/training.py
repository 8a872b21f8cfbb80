"""Wire models of the training routes: the job request, a job, its metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, HttpUrl

TrainingType = Literal["standard", "dialogue", "empathy", "function_calling"]


class NewJob(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "preset": "tiny",
                    "training_type": "standard",
                    "dataset_id": "default",
                    "max_steps": 50,
                    "hyperparameters": {"learning_rate": 0.003, "warmup_steps": 5},
                    "callback_url": "https://example.com/hooks/qllm",
                }
            ]
        }
    }
    model_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="the model trained; default: a new model",
    )
    preset: str = Field("tiny", description="a model preset (GET /api/v1/configs/presets/models)")
    training_type: TrainingType = "standard"
    dataset_id: str = Field(
        "default",
        min_length=1,
        max_length=64,
        description="an uploaded dataset's id, or 'default' (built-in corpus)",
    )
    max_steps: int = Field(100, ge=1, le=1_000_000)
    retry_budget: int = Field(2, ge=0, le=10)
    hyperparameters: dict[str, float] = Field(default_factory=dict)
    callback_url: HttpUrl | None = Field(
        None, description="POSTed the final status, HMAC-SHA256 signed, on the terminal state"
    )


class JobOut(BaseModel):
    job_id: str
    version: int
    status: str
    owner: str
    model_id: str
    preset: str
    max_steps: int
    retry_budget: int
    training_type: str
    dataset_id: str
    hyperparameters: dict[str, float]
    callback_url: str | None
    extensions: dict[str, str] = Field(
        default_factory=dict,
        description="the model's extensions this job trains with (set when it was submitted)",
    )
    retries_used: int
    worker_id: str | None
    step: int
    loss: float | None
    reason: str | None
    checkpoint_uri: str | None
    checkpoint_step: int
    evaluation: dict[str, float] | None
    submitted_at: datetime | None
    updated_at: datetime | None


class JobPage(BaseModel):
    items: list[JobOut]
    offset: int
    limit: int


class StepPoint(BaseModel):
    step: int
    loss: float
    lr: float | None
    grad_norm: float | None
    tokens_per_s: float | None
    mean_iterations: float | None
    mean_entropy: float | None
    at: datetime


class CheckpointPoint(BaseModel):
    step: int
    checkpoint_uri: str
    forced: bool
    at: datetime


class EvaluationPoint(BaseModel):
    step: int
    checkpoint_uri: str
    metrics: dict[str, float]
    at: datetime


class JobMetrics(BaseModel):
    job_id: str
    status: str
    steps: list[StepPoint]
    checkpoints: list[CheckpointPoint]
    evaluations: list[EvaluationPoint]
    redone_steps: int = Field(description="steps done again after a recovery (not repeated here)")
