"""``/dashboard``: the browser dashboard, plain HTML/JS/CSS served from ``api/dashboard``.

The pages are public (they hold no data); everything they show comes from the API with the same
auth as any client: the login form gets a JWT pair, kept in the tab's ``sessionStorage`` and
refreshed on a ``401``. Live views read the same SSE routes as the SDK, through ``fetch`` (an
``EventSource`` cannot send an ``Authorization`` header), resuming with ``Last-Event-ID``.
Assets are a fixed list, so no path from the URL ever reaches the file system; nothing comes
from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, RedirectResponse

from api.auth.principal import public
from api.errors import NotFound

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
ASSETS = Path(__file__).resolve().parents[1] / "dashboard"
_TYPES = {"app.js": "text/javascript", "chart.js": "text/javascript", "style.css": "text/css"}
_NO_STORE = {"Cache-Control": "no-cache"}


@router.get("", dependencies=[Depends(public)])
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/")


@router.get("/", dependencies=[Depends(public)])
async def index() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type="text/html", headers=_NO_STORE)


@router.get("/assets/{name}", dependencies=[Depends(public)])
async def asset(name: str) -> FileResponse:
    if name not in _TYPES:
        raise NotFound("no such dashboard asset", details={"name": name})
    return FileResponse(ASSETS / name, media_type=_TYPES[name], headers=_NO_STORE)
