"""System endpoints: liveness, readiness of Kafka/Cassandra/Redis, version; and, on
``admin_router``, status, host resources (``system:read``) and cleanup (``system:admin``).

Role of ``router``: public. Health probes are read by load balancers and orchestrators that hold
no credentials, and they reveal nothing but up/down and versions.
"""

from __future__ import annotations

import asyncio
import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth.permissions import PUBLIC, Permission
from api.auth.principal import Principal, public, require, resources_of
from api.datasets import DatasetStore
from api.projection import ProjectionReader
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


# --- authenticated system routes (their own router: the one above is public as a whole) ---
admin_router = APIRouter(prefix="/api/v1/system", tags=["system"])
_STARTED = time.monotonic()


class SystemStatus(BaseModel):
    version: str
    uptime_s: float
    jobs: int
    models: int
    datasets: int
    publisher_open: bool


class GpuInfo(BaseModel):
    index: int
    name: str
    memory_total_bytes: int
    memory_allocated_bytes: int


class SystemResources(BaseModel):
    cpu_count: int
    load_average: list[float]
    memory_total_bytes: int | None
    memory_available_bytes: int | None
    gpus: list[GpuInfo]


class Cleanup(BaseModel):
    removed_uploads: list[str]


@admin_router.get("/status", response_model=SystemStatus, summary="What the platform holds")
async def status(
    request: Request, principal: Annotated[Principal, Depends(require(Permission.SYSTEM_READ))]
) -> SystemStatus:
    resources = resources_of(request)
    projection = ProjectionReader(resources.redis, resources.projection_keys)
    datasets = await asyncio.to_thread(DatasetStore(resources.config.data_root).all)
    return SystemStatus(
        version=(await get_version()).version,
        uptime_s=round(time.monotonic() - _STARTED, 3),
        jobs=await projection.count("job"),
        models=await projection.count("model"),
        datasets=len(datasets),
        publisher_open=resources.publisher_open,
    )


def _meminfo() -> dict[str, int]:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:  # not Linux
        return {}
    found = {}
    for line in lines:
        key, _, rest = line.partition(":")
        found[key] = int(rest.split()[0]) * 1024
    return found


def _gpus() -> list[GpuInfo]:
    import torch  # already loaded by the model package; imported here to keep this module light

    if not torch.cuda.is_available():
        return []
    return [
        GpuInfo(
            index=i,
            name=torch.cuda.get_device_name(i),
            memory_total_bytes=torch.cuda.get_device_properties(i).total_memory,
            memory_allocated_bytes=torch.cuda.memory_allocated(i),
        )
        for i in range(torch.cuda.device_count())
    ]


@admin_router.get(
    "/resources",
    response_model=SystemResources,
    summary="CPU, memory and GPUs (when present) of this host",
)
async def host_resources(
    principal: Annotated[Principal, Depends(require(Permission.SYSTEM_READ))],
) -> SystemResources:
    memory = _meminfo()
    return SystemResources(
        cpu_count=os.cpu_count() or 1,
        load_average=list(os.getloadavg()),
        memory_total_bytes=memory.get("MemTotal"),
        memory_available_bytes=memory.get("MemAvailable"),
        gpus=await asyncio.to_thread(_gpus),
    )


@admin_router.post(
    "/cleanup",
    response_model=Cleanup,
    summary="Remove what interrupted uploads left in the dataset store",
)
async def cleanup(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.SYSTEM_ADMIN))],
    older_than_s: Annotated[float, Query(ge=0)] = 3600.0,
) -> Cleanup:
    store = DatasetStore(resources_of(request).config.data_root)
    return Cleanup(removed_uploads=await asyncio.to_thread(store.cleanup, older_than_s))
