"""Prometheus metrics of the API, in a registry owned by one app (tests build many apps).

Request latency is labelled by route *template* (``/api/v1/auth/keys/{key_id}``), never by raw
path, so ids cannot blow up the series count; unmatched paths share one label.

The domain series, each set from what this process honestly knows:
- ``qllm_jobs{state}``: training jobs by state, counted from the Redis projection when
  ``/metrics`` is scraped (every state present, zeros included; at most ``JOBS_COUNTED`` newest
  jobs are read per scrape; a Redis failure leaves the last values and is logged, the scrape
  still answers);
- ``qllm_inference_queue_depth{model}``: inference requests this API has written and is waiting
  on (``inference_client``: up on publish, down on the answer);
- ``qllm_inference_batch_size{model}``: prompts per ``/api/v1/inference/batch`` request — the
  batchers' own batch sizes are the consumers' metric, not visible to the API.

``/metrics`` is public, as Prometheus scrapes are by convention; it exposes only counts and
timings per route template.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.principal import public, resources_of
from api.projection import ProjectionReader
from schemas.jobs import JobStatus

UNMATCHED = "<unmatched>"
access_log = logging.getLogger("qllm.api.access")
log = logging.getLogger("qllm.api.metrics")
JOBS_COUNTED = 10_000
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class ApiMetrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.latency = Histogram(
            "qllm_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "qllm_http_requests_in_flight", "HTTP requests being served", registry=r
        )
        self.jobs = Gauge("qllm_jobs", "Training jobs by state", ["state"], registry=r)
        self.inference_queue_depth = Gauge(
            "qllm_inference_queue_depth",
            "Inference requests waiting, by model",
            ["model"],
            registry=r,
        )
        self.batch_size = Histogram(
            "qllm_inference_batch_size",
            "Prompts per inference batch request",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", UNMATCHED)) if route is not None else UNMATCHED


class AccessMiddleware:
    """Times every request into the histogram and writes one access log line (no headers)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - start
            labels = (scope["method"], route_template(scope), str(status))
            self.metrics.latency.labels(*labels).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):  # no record (and no dict) when off
                access_log.info(
                    "%s %s %s",
                    *labels,
                    extra={
                        "method": labels[0],
                        "route": labels[1],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


router = APIRouter(tags=["observability"], dependencies=[Depends(public)])


async def count_jobs(request: Request, gauge: Gauge) -> None:
    """Set ``qllm_jobs{state}`` from the projection (newest ``JOBS_COUNTED`` jobs)."""
    resources = resources_of(request)
    projection = ProjectionReader(resources.redis, resources.projection_keys)
    try:
        states = await projection.many(await projection.ids("job", None, 0, JOBS_COUNTED), "job")
    except Exception as exc:  # a scrape must answer: keep the last counts
        log.warning("jobs by state not refreshed: %s", type(exc).__name__)
        return
    counts = dict.fromkeys((s for s in JobStatus if s is not JobStatus.ABSENT), 0)
    for state in states:
        counts[state.status] = counts.get(state.status, 0) + 1
    for status, n in counts.items():
        gauge.labels(status.value).set(n)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    api_metrics: ApiMetrics = request.app.state.metrics
    await count_jobs(request, api_metrics.jobs)
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)
