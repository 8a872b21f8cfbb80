"""Typed results of the SDK: the API's response bodies, parsed with pydantic at the HTTP edge.

Models ignore fields they do not know (a newer server adds fields without breaking an older
SDK) and are frozen: a result is a value, not a handle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
TERMINAL_EVENTS = frozenset({"JobSucceeded", "JobFailed", "JobCancelled"})


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Me(Wire):
    subject: str
    role: str
    kind: str
    tier: str
    key_id: str | None = None
    permissions: list[str] = []


class ApiKey(Wire):
    key_id: str
    name: str
    role: str
    tier: str
    owner: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None


class CreatedKey(ApiKey):
    api_key: str


class Accepted(Wire):
    """A ``202``: the command is in Kafka; ``location`` is where its effect will show."""

    location: str
    body: dict[str, Any] = {}

    @property
    def resource_id(self) -> str:
        return self.location.rstrip("/").split("/")[-1]


class Job(Wire):
    job_id: str
    version: int
    status: str
    owner: str
    model_id: str
    preset: str
    max_steps: int
    step: int = 0
    loss: float | None = None
    reason: str | None = None
    training_type: str = "standard"
    dataset_id: str = "default"
    retries_used: int = 0
    worker_id: str | None = None
    checkpoint_uri: str | None = None
    checkpoint_step: int = 0
    extensions: dict[str, str] = {}  # the model's extensions this job trains with
    submitted_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


class JobPage(Wire):
    items: list[Job]
    offset: int
    limit: int


class StepPoint(Wire):
    step: int
    loss: float
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    at: datetime


class JobMetrics(Wire):
    job_id: str
    status: str
    steps: list[StepPoint]
    redone_steps: int = 0


class Model(Wire):
    model_id: str
    version: int
    status: str
    owner: str
    preset: str
    description: str = ""
    training_job_id: str | None = None
    checkpoint_uri: str | None = None
    checkpoint_step: int = 0
    registered_at: datetime | None = None
    updated_at: datetime | None = None
    tags: list[str] = []
    enabled_extensions: list[str] = []


class ModelExtension(Wire):
    name: str
    enabled: bool
    settings: dict[str, str]


class ModelPage(Wire):
    items: list[Model]
    offset: int
    limit: int


class ModelStatus(Wire):
    model_id: str
    status: str
    servable: bool
    training_job_id: str | None = None
    checkpoint_step: int = 0


class Usage(Wire):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Generation(Wire):
    request_id: str
    model: str
    text: str
    finish_reason: str
    usage: Usage


class ChatMessage(Wire):
    role: str
    content: str


class ChatReply(Wire):
    request_id: str
    model: str
    message: ChatMessage
    finish_reason: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One server-sent event: ``id`` (a job event's ``seq``), ``event`` (its type), ``data``."""

    id: str | None
    event: str
    data: str

    def json(self) -> dict[str, Any]:
        parsed = json.loads(self.data)
        return parsed if isinstance(parsed, dict) else {"value": parsed}

    @property
    def seq(self) -> int | None:
        return int(self.id) if self.id is not None and self.id.isdigit() else None
