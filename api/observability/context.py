"""The request id: accepted from ``X-Request-ID`` (if sane), generated otherwise, returned on
every response, put in every log line and every error body.

It lives in two places on purpose: the ASGI scope's ``state`` (so the error handler of
Starlette's outermost middleware, which runs after our middleware has returned, still finds it)
and a context variable (so log records made anywhere during the request carry it).
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # no spaces or control chars: it goes into logs
current_request_id: ContextVar[str] = ContextVar("qllm_request_id", default="-")


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", current_request_id.get()))


def _incoming(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SANE.match(candidate) else None
    return None


def extra_response_headers(scope: Scope) -> dict[str, str]:
    """Headers a dependency asked to add to whatever response is sent (rate-limit headers)."""
    headers: dict[str, str] = scope.setdefault("state", {}).setdefault("response_headers", {})
    return headers


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                extra = {HEADER: request_id, **extra_response_headers(scope)}
                headers += [
                    (k.lower().encode(), v.encode("latin-1"))
                    for k, v in extra.items()
                    if k.lower().encode() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
