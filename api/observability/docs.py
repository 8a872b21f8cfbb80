"""Swagger UI and ReDoc served from local assets (no CDN): the files ship in the
``fastapi-offline`` wheel and are mounted under ``/static/docs``; only its static files are used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.auth.principal import public

STATIC_URL = "/static/docs"


def asset_dir() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("fastapi-offline is not installed; it ships the docs' static files")
    return Path(spec.origin).parent / "static"


OPENAPI_URL = "/openapi.json"
TITLE = "QLLM platform"
router = APIRouter(include_in_schema=False, dependencies=[Depends(public)])


@router.get("/docs")
async def swagger() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=f"{TITLE} — Swagger UI",
        swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_URL}/favicon.png",
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url=OPENAPI_URL,
        title=f"{TITLE} — ReDoc",
        redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC_URL}/favicon.png",
        with_google_fonts=False,
    )


def mount_assets(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=asset_dir()), name="docs-static")
