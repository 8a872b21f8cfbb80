"""Request and response models of ``/api/v1/qraf`` (the HTTP wire of the QRAF service)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

MAX_DIMENSION = 4096


class NewState(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"dimension": 16}]}}
    dimension: int = Field(ge=1, le=MAX_DIMENSION)
    real: list[float] = Field(default_factory=list, description="amplitudes; empty: seeded")
    imag: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sizes(self) -> NewState:
        if self.real and len(self.real) != self.dimension:
            raise ValueError(f"real has {len(self.real)} values, dimension is {self.dimension}")
        if self.imag and len(self.imag) != self.dimension:
            raise ValueError(f"imag has {len(self.imag)} values, dimension is {self.dimension}")
        if self.imag and not self.real:
            raise ValueError("imag without real")
        return self


class StateOut(BaseModel):
    state_id: str
    status: str
    owner: str
    dimension: int
    from_data: bool
    operation: str | None
    operations_applied: int
    last_error: str | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None


class OnState(BaseModel):
    state_id: str = Field(min_length=1, max_length=128)


class Density(OnState):
    noise: float = Field(0.05, ge=0.0, le=1.0)
    seed: int = Field(0, ge=0)


class Quantization(OnState):
    model_config = {"json_schema_extra": {"examples": [{"state_id": "…", "bits": 4}]}}
    bits: Literal[2, 4, 8] = 8


class Correction(OnState):
    n: int = Field(3, ge=3, le=15, description="repetition code length (odd)")
    flip_prob: float = Field(0.05, ge=0.0, le=0.5)
    seed: int = Field(0, ge=0)


class BatchItem(OnState):
    operation: Literal["quantize", "optimize_density", "correct_errors", "compress_memory"]
    params: dict[str, float] = Field(default_factory=dict)


class BatchOptimize(BaseModel):
    items: list[BatchItem] = Field(min_length=1, max_length=64)


class Enhance(OnState):
    model_config = {"json_schema_extra": {"examples": [
        {"state_id": "…", "model": "preset:tiny", "prompt": "Summarise:", "max_tokens": 16}
    ]}}  # fmt: skip
    model: str = Field(min_length=1, max_length=256)
    prompt: str = Field(min_length=1, max_length=16_000)
    max_tokens: int = Field(32, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=5.0)
    memory_items: int = Field(8, ge=0, le=64, description="newest operation results recalled")


class EnhanceOut(BaseModel):
    request_id: str
    state_id: str
    model: str
    text: str
    memory: list[str] = Field(description="the recalled memory lines the prompt was given")
    prompt_tokens: int
    completion_tokens: int


class OperationRecord(BaseModel):
    seq: int
    operation: str
    outcome: Literal["applied", "failed"]
    metrics: dict[str, float]
    reason: str | None
    at: datetime


class StateMetrics(BaseModel):
    state_id: str
    operations: list[OperationRecord]
