"""System endpoints: liveness, readiness of Kafka/Cassandra/Redis, version.

Role: public. Health probes are read by load balancers and orchestrators that hold no
credentials, and they reveal nothing but up/down and versions.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth.permissions import PUBLIC
from api.auth.principal import public
from api.readiness import probe_all

router = APIRouter(prefix="/api/v1/system", tags=["system"], dependencies=[Depends(public)])
REQUIRED_ROLE = PUBLIC


class Liveness(BaseModel):
    status: str


class ServiceReadiness(BaseModel):
    ready: bool
    latency_ms: float
    detail: str


class Readiness(BaseModel):
    status: str
    services: dict[str, ServiceReadiness]


class Version(BaseModel):
    name: str
    version: str
    api: str


@router.get("/health", response_model=Liveness, summary="Liveness: the process answers")
async def health() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Readiness: Kafka, Cassandra and Redis each answer a real request",
    responses={503: {"model": Readiness, "description": "a dependency is not ready"}},
)
async def ready(request: Request) -> JSONResponse:
    probes = await probe_all(request.app.state.settings)
    body = Readiness(
        status="ready" if all(p.ready for p in probes) else "not ready",
        services={p.service: ServiceReadiness(ready=p.ready, latency_ms=p.latency_ms,
                                              detail=p.detail) for p in probes},
    )  # fmt: skip
    code = 200 if body.status == "ready" else 503
    headers = {} if code == 200 else {"Retry-After": "5"}
    return JSONResponse(body.model_dump(), status_code=code, headers=headers)


@router.get("/version", response_model=Version, summary="Product and API version")
async def get_version() -> Version:
    try:
        product = version("qllm-platform")
    except PackageNotFoundError:  # running from a checkout, not an installed package
        product = "0.1.0"
    return Version(name="qllm-platform", version=product, api="v1")
