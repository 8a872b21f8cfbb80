"""Every API call as a value: method, path, body, and how to read the answer (sans I/O).

``Client`` and ``AsyncClient`` only send a ``Call`` and apply its ``parse``; what a route
takes and returns is written once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from sdk import models as m

T = TypeVar("T")
TRAINING = "/api/v1/training/jobs"
MODELS = "/api/v1/models"
KEYS = "/api/v1/auth/keys"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    authenticated: bool = True


def _model(kind: type[T]) -> Callable[[httpx.Response], T]:
    return lambda r: kind.model_validate(r.json())  # type: ignore[attr-defined]


def _list_of(kind: type[T]) -> Callable[[httpx.Response], list[T]]:
    return lambda r: [kind.model_validate(x) for x in r.json()]  # type: ignore[attr-defined]


def _accepted(response: httpx.Response) -> m.Accepted:
    body = response.json() if response.content else {}
    return m.Accepted(location=response.headers.get("Location", ""), body=body)


def _none(_: httpx.Response) -> None:
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    return body if isinstance(body, dict) else {"value": body}


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def login(username: str, password: str) -> Call[dict[str, Any]]:
    body = {"username": username, "password": password}
    return Call("POST", "/api/v1/auth/login", _json, json=body, authenticated=False)


def refresh(refresh_token: str) -> Call[dict[str, Any]]:
    body = {"refresh_token": refresh_token}
    return Call("POST", "/api/v1/auth/refresh", _json, json=body, authenticated=False)


def me() -> Call[m.Me]:
    return Call("GET", "/api/v1/auth/me", _model(m.Me))


def create_key(name: str, role: str, tier: str = "standard") -> Call[m.CreatedKey]:
    body = {"name": name, "role": role, "tier": tier}
    return Call("POST", KEYS, _model(m.CreatedKey), json=body)


def list_keys() -> Call[list[m.ApiKey]]:
    return Call("GET", KEYS, _list_of(m.ApiKey))


def revoke_key(key_id: str) -> Call[None]:
    return Call("DELETE", f"{KEYS}/{key_id}", _none)


def create_job(**body: Any) -> Call[m.Accepted]:
    return Call("POST", TRAINING, _accepted, json=_params(**body))


def list_jobs(
    owner: str | None = None, status: str | None = None, limit: int = 50
) -> Call[m.JobPage]:
    return Call("GET", TRAINING, _model(m.JobPage), params=_params(owner=owner, status=status,
                                                                   limit=limit))  # fmt: skip


def get_job(job_id: str) -> Call[m.Job]:
    return Call("GET", f"{TRAINING}/{job_id}", _model(m.Job))


def control_job(job_id: str, action: str) -> Call[m.Accepted]:
    """``action``: stop, pause, resume or checkpoint."""
    return Call("POST", f"{TRAINING}/{job_id}/{action}", _accepted)


def job_metrics(job_id: str) -> Call[m.JobMetrics]:
    return Call("GET", f"{TRAINING}/{job_id}/metrics", _model(m.JobMetrics))


def job_logs_path(job_id: str) -> str:
    return f"{TRAINING}/{job_id}/logs"


def list_models(status: str | None = None, limit: int = 50) -> Call[m.ModelPage]:
    params = _params(status=status, limit=limit)
    return Call("GET", MODELS, _model(m.ModelPage), params=params)


def create_model(
    preset: str = "tiny", model_id: str | None = None, description: str = ""
) -> Call[m.Accepted]:
    body = _params(preset=preset, model_id=model_id, description=description)
    return Call("POST", MODELS, _accepted, json=body)


def get_model(model_id: str) -> Call[m.Model]:
    return Call("GET", f"{MODELS}/{model_id}", _model(m.Model))


def model_status(model_id: str) -> Call[m.ModelStatus]:
    return Call("GET", f"{MODELS}/{model_id}/status", _model(m.ModelStatus))


def model_extensions(model_id: str) -> Call[list[m.ModelExtension]]:
    return Call("GET", f"{MODELS}/{model_id}/extensions", _list_of(m.ModelExtension))


def configure_extension(
    model_id: str, name: str, enabled: bool | None = None, settings: dict[str, Any] | None = None
) -> Call[m.Accepted]:
    """Switch extension ``name`` of the model on or off and/or change its settings (from the
    model's next training job on)."""
    body = _params(enabled=enabled, settings=settings)
    return Call("PATCH", f"{MODELS}/{model_id}/extensions/{name}", _accepted, json=body)


def cache_model(model_id: str, action: str) -> Call[m.Accepted]:
    """``action``: load or unload."""
    return Call("POST", f"{MODELS}/{model_id}/{action}", _accepted)


def generate(model: str, prompt: str, stream: bool = False, **sampling: Any) -> Call[m.Generation]:
    body = {"model": model, "prompt": prompt, "stream": stream, **_params(**sampling)}
    return Call("POST", "/api/v1/inference/generate", _model(m.Generation), json=body)


def chat(
    model: str, messages: list[dict[str, str]], stream: bool = False, **sampling: Any
) -> Call[m.ChatReply]:
    body = {"model": model, "messages": messages, "stream": stream, **_params(**sampling)}
    return Call("POST", "/api/v1/inference/chat", _model(m.ChatReply), json=body)
