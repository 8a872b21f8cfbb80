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
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _error(self, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body over {self.max_bytes} bytes",
            details={"limit_bytes": self.max_bytes, "size_bytes": size},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await render(Request(scope), self._error(declared))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)
