"""Wire models of the model routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class NewModel(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"preset": "tiny", "description": "demo"}]}}
    model_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    preset: str = "tiny"
    description: str = Field("", max_length=2000)


class ModelOut(BaseModel):
    model_id: str
    version: int
    status: str
    owner: str
    preset: str
    description: str
    training_job_id: str | None
    checkpoint_uri: str | None
    checkpoint_step: int
    registered_at: datetime | None
    updated_at: datetime | None


class ModelPage(BaseModel):
    items: list[ModelOut]
    offset: int
    limit: int


class ModelStatusOut(BaseModel):
    model_id: str
    status: str
    servable: bool = Field(description="READY with a checkpoint: inference can load it")
    training_job_id: str | None
    checkpoint_step: int


class CheckpointVersion(BaseModel):
    version: int = Field(description="1 for the first checkpoint the model published, then 2 …")
    step: int
    checkpoint_uri: str
    job_id: str
    published_at: datetime
