"""Builds the FastAPI application from a settings object; nothing is built at import time."""

from __future__ import annotations

from fastapi import FastAPI

from api.routers import system
from compose.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API. ``uvicorn --factory api.app:create_app`` builds its settings from the env."""
    settings = settings or Settings()
    app = FastAPI(
        title="QLLM platform",
        version="0.1.0",
        description="Train and serve QLLM and run QRAF state operations.",
    )
    app.state.settings = settings
    app.include_router(system.router)
    return app
