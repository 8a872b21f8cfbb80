"""The API's exception tree; ``error_handlers`` is the one place that turns it into HTTP.

Every error carries a stable ``code`` (the ``error`` field of the body), an OpenAI ``type`` for the
``/v1`` routes, the offending value in ``details``, and any headers the status needs
(``WWW-Authenticate`` on 401, ``Retry-After`` on 429/503).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    openai_type: ClassVar[str] = "server_error"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        param: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status or type(self).status
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        self.param = param


class BadRequest(ApiError):
    status, code, openai_type = 400, "bad_request", "invalid_request_error"


class NotAuthenticated(ApiError):
    """401: no credentials, or credentials that do not prove an identity."""

    status, code, openai_type = 401, "not_authenticated", "authentication_error"

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="qllm"'})
        super().__init__(message, **kwargs)


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"


class InvalidToken(NotAuthenticated):
    code = "invalid_token"


class InvalidApiKey(NotAuthenticated):
    code = "invalid_api_key"


class PermissionDenied(ApiError):
    """403: the identity is known and lacks the permission (or does not own the resource)."""

    status, code, openai_type = 403, "forbidden", "permission_error"


class NotFound(ApiError):
    status, code, openai_type = 404, "not_found", "invalid_request_error"


class MethodNotAllowed(ApiError):
    status, code, openai_type = 405, "method_not_allowed", "invalid_request_error"


class Conflict(ApiError):
    status, code, openai_type = 409, "conflict", "invalid_request_error"


class PayloadTooLarge(ApiError):
    status, code, openai_type = 413, "payload_too_large", "invalid_request_error"


class ValidationFailed(ApiError):
    status, code, openai_type = 422, "validation_error", "invalid_request_error"


class TooManyRequests(ApiError):
    status, code, openai_type = 429, "rate_limited", "rate_limit_error"

    def __init__(self, message: str, *, retry_after_s: int, **kwargs: Any) -> None:
        headers = {"Retry-After": str(retry_after_s), **kwargs.pop("headers", {})}
        super().__init__(message, headers=headers, **kwargs)
        self.retry_after_s = retry_after_s


class LockedOut(TooManyRequests):
    """Too many failed logins or bad keys: refused, even with the right secret, until unlocked."""

    code = "locked_out"


class ServiceUnavailable(ApiError):
    """503: a dependency (Kafka, Cassandra, Redis) did not answer within its bounded timeout."""

    status, code, openai_type = 503, "service_unavailable", "server_error"

    def __init__(self, service: str, reason: str, *, retry_after_s: int = 5) -> None:
        super().__init__(
            f"{service} is unavailable",
            details={"service": service, "reason": reason[:200]},
            headers={"Retry-After": str(retry_after_s)},
        )
        self.service = service


class AuthNotConfigured(ServiceUnavailable):
    code = "auth_not_configured"

    def __init__(self, reason: str) -> None:
        super().__init__("auth", reason, retry_after_s=60)
