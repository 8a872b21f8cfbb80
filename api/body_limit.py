"""Request bodies over ``max_body_bytes`` are refused with 413 in the API's error format.

A declared ``Content-Length`` over the limit is answered before the app runs; a chunked body is
counted as it is read, and the read that crosses the limit raises an ``HTTPException(413)``,
which FastAPI's body parsing lets through to the one error handler. (FastAPI's own
``max_body_size`` answers oversized declared bodies with a plain-text 413 that bypasses the
handler, so it is not used.)
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.error_handlers import render
from api.errors import PayloadTooLarge


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    """``larger`` maps a path prefix (the dataset upload) to its own, larger limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app, self.max_bytes, self.larger = app, max_bytes, larger or {}

    def _limit(self, scope: Scope) -> int:
        path = scope.get("path", "")
        return next((n for p, n in self.larger.items() if path.startswith(p)), self.max_bytes)

    def _error(self, size: int, limit: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body over {limit} bytes",
            details={"limit_bytes": limit, "size_bytes": size},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await render(Request(scope), self._error(declared, limit))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, counted, send)
