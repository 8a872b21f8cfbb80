"""Builds the FastAPI application from the settings objects; nothing is built at import time.

``create_app(settings, config)`` wires, in this order: the resources (opened lazily), the one
error handler module, the middleware (request id outermost, then access log + metrics, then the
body size limit), the routers, and the locally served docs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from api import error_handlers
from api.auth.store import AuthStore
from api.body_limit import BodyLimitMiddleware
from api.config import ApiConfig
from api.observability import docs, logs
from api.observability.context import RequestIdMiddleware
from api.observability.metrics import AccessMiddleware, ApiMetrics
from api.observability.metrics import router as metrics_router
from api.resources import Resources
from api.routers import (
    api_keys,
    auth,
    configs,
    dashboard,
    datasets,
    extensions,
    inference,
    models,
    openai,
    qraf,
    system,
    training,
    users,
)
from api.webhooks import watching
from compose.heap import freeze_startup_heap
from compose.settings import Settings

# The documentation's order of the endpoint groups (Swagger UI and ReDoc follow the document's
# ``tags`` list, not the order the routers are matched in).
TAGS = ("system", "auth", "observability", "training", "models", "datasets", "configs",
        "extensions", "inference", "openai", "qraf")  # fmt: skip


def routers() -> list[APIRouter]:
    """Every router of the API, in inclusion order (tests walk these for the role matrix).

    Matching order: FastAPI tries a request against the routers one after another, each of its
    routes in turn, so the routers of the most frequent requests come first — job status and
    control, inference, the OpenAI routes. Skipping a router it does not match cost a job GET
    ~8 µs; with training first instead of eighth, a job GET took 420 instead of 480 µs of CPU in
    process (tests/benchmarks/api.md). Prefixes do not overlap, so the order changes no match;
    routers sharing a prefix (auth, users, api_keys; system's two) keep their order."""
    return [training.router, inference.router, openai.router,
            system.router, auth.router, users.router, api_keys.router, metrics_router, docs.router,
            system.admin_router, models.router, datasets.router, configs.router,
            extensions.router, qraf.router, dashboard.router]  # fmt: skip


def create_app(
    settings: Settings | None = None,
    config: ApiConfig | None = None,
    *,
    auth_store: AuthStore | None = None,
) -> FastAPI:
    """The API. ``uvicorn --factory api.app:create_app`` builds both settings from the env."""
    settings = settings or Settings()
    config = config or ApiConfig()
    logs.configure(config.log_level)
    resources = Resources(settings, config, auth_store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        freeze_startup_heap("api")  # torch's and FastAPI's objects out of the GC's scans
        async with watching(resources):  # job webhooks (api.webhooks)
            yield
        await resources.aclose()

    app = FastAPI(
        title=docs.TITLE,
        version="0.1.0",
        description="Train and serve QLLM and run QRAF state operations.",
        openapi_url=docs.OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        openapi_tags=[{"name": tag} for tag in TAGS],
    )
    app.state.settings, app.state.config, app.state.resources = settings, config, resources
    app.state.metrics = ApiMetrics()
    error_handlers.install(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=config.max_body_bytes,
        larger={datasets.router.prefix: config.max_dataset_bytes + 64 * 1024},  # + multipart
    )
    app.add_middleware(AccessMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)  # added last = outermost
    for router in routers():
        app.include_router(router)
    docs.mount_assets(app)
    return app
