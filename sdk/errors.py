"""The SDK's exception tree: every failure a caller can see is a ``QllmError``.

    QllmError
    ├── TransportError        the request never got an HTTP answer (refused, reset, timed out)
    │   └── StreamLost        a followed SSE stream dropped more often than the resume budget allows
    ├── StreamFailed          the server sent an ``event: error`` frame inside a stream
    └── ApiError              the API answered an error status; carries its body
        ├── BadRequest (400)       ├── Conflict (409)
        ├── NotAuthenticated (401) ├── ValidationFailed (422)
        ├── PermissionDenied (403) ├── RateLimited (429, ``retry_after_s``)
        ├── NotFound (404)         ├── ServiceUnavailable (503, ``retry_after_s``)
        └── ServerError (other 5xx)

``ApiError`` mirrors the API's error format (``api/errors.py``): ``code`` is the body's ``error``
field (``"invalid_token"``, ``"locked_out"`` …), ``details`` the offending values, ``request_id``
what to quote in a bug report. On ``/v1`` (OpenAI shape) the nested ``error`` object is read.
"""

from __future__ import annotations

from typing import Any

import httpx


class QllmError(Exception):
    """Base of everything the SDK raises."""


class TransportError(QllmError):
    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(f"{message} ({url})")
        self.url = url


class StreamLost(TransportError):
    def __init__(self, url: str, last_event_id: str | None, attempts: int) -> None:
        super().__init__(f"stream lost after {attempts} reconnects at id {last_event_id}", url=url)
        self.last_event_id, self.attempts = last_event_id, attempts


class StreamFailed(QllmError):
    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.details = code, message, details


class ApiError(QllmError):
    status: int = 0

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details = details or {}
        self.request_id = request_id
        self.retry_after_s = retry_after_s


class BadRequest(ApiError):
    pass


class NotAuthenticated(ApiError):
    pass


class PermissionDenied(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class ValidationFailed(ApiError):
    pass


class RateLimited(ApiError):
    pass


class ServiceUnavailable(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: NotAuthenticated, 403: PermissionDenied, 404: NotFound, 409: Conflict,
    413: BadRequest, 422: ValidationFailed, 429: RateLimited, 503: ServiceUnavailable,
}  # fmt: skip


def retry_after_of(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the API sends delta-seconds); None when absent or a date."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_from(response: httpx.Response) -> ApiError:
    """The typed error for an error response, in either of the API's two body shapes."""
    body = _body(response)
    nested = body.get("error")
    if isinstance(nested, dict):  # OpenAI shape on /v1
        code, message, details = nested.get("code"), nested.get("message"), dict[str, Any]()
    else:
        code, message = nested, body.get("message")
        found = body.get("details")
        details = found if isinstance(found, dict) else {}
    status = response.status_code
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else BadRequest)
    return kind(
        status,
        str(code or response.reason_phrase or "error"),
        str(message or response.text[:200] or response.reason_phrase),
        details=details,
        request_id=response.headers.get("X-Request-ID") or body.get("request_id"),
        retry_after_s=retry_after_of(response),
    )
