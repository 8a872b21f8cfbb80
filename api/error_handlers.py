"""The one exception handler of the API: every error becomes an HTTP response here.

Two body shapes, chosen by path:
- ``/v1/...`` (OpenAI-compatible routes): ``{"error": {"message", "type", "param", "code"}}``, so
  unmodified OpenAI clients parse it;
- everything else: the design's ``{"error", "message", "details", "request_id", "timestamp"}``.

Raw Redis, Cassandra and Kafka connection/timeout errors that escape an adapter are mapped to
503 with ``Retry-After`` here as a last line of defence; adapters normally raise
``ServiceUnavailable`` themselves.
Unexpected exceptions are logged with their traceback and answered 500 without internals.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import aiokafka.errors as kafka_errors
import cassandra
import cassandra.cluster
import redis.exceptions as redis_errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import (
    ApiError,
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
)
from api.observability.context import request_id_of

log = logging.getLogger("qllm.api.errors")
_BY_STATUS: dict[int, type[ApiError]] = {
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    422: ValidationFailed,
}


def _is_openai(request: Request) -> bool:
    return request.url.path == "/v1" or request.url.path.startswith("/v1/")


def render(request: Request, error: ApiError) -> JSONResponse:
    request_id = request_id_of(request.scope)
    headers = {**error.headers, "X-Request-ID": request_id}
    body: dict[str, Any]
    if _is_openai(request):
        body = {
            "error": {
                "message": error.message,
                "type": error.openai_type,
                "param": error.param,
                "code": error.code,
            }
        }
    else:
        body = {
            "error": error.code,
            "message": error.message,
            "details": error.details,
            "request_id": request_id,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
    return JSONResponse(body, status_code=error.status_code, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        location, path = (
            (loc[0], loc[1:])
            if loc and loc[0] in {"body", "query", "path", "header", "cookie"}
            else ("", loc)
        )
        out.append(
            {
                "field": ".".join(path) or location,
                "location": location,
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return render(request, exc)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _field_errors(exc)
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    error = ValidationFailed(
        f"invalid request: {summary}",
        details={"fields": fields},
        param=fields[0]["field"] if fields else None,
    )
    return render(request, error)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = _BY_STATUS.get(exc.status_code, BadRequest)
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    error = kind(
        message,
        details={"path": request.url.path, "method": request.method},
        headers=dict(exc.headers or {}),
        status=exc.status_code,
    )
    return render(request, error)


_UNAVAILABLE: dict[type[Exception], str] = {
    redis_errors.ConnectionError: "redis",
    redis_errors.TimeoutError: "redis",
    cassandra.cluster.NoHostAvailable: "cassandra",
    cassandra.OperationTimedOut: "cassandra",
    cassandra.Unavailable: "cassandra",
    cassandra.Timeout: "cassandra",
    kafka_errors.KafkaConnectionError: "kafka",
    kafka_errors.KafkaTimeoutError: "kafka",
    kafka_errors.NoBrokersAvailable: "kafka",
}


async def _dependency_down(request: Request, exc: Exception) -> JSONResponse:
    service = next(s for kind, s in _UNAVAILABLE.items() if isinstance(exc, kind))
    return render(request, ServiceUnavailable(service, f"{type(exc).__name__}: {exc}"))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(request, ApiError("internal error"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    for kind in _UNAVAILABLE:
        app.add_exception_handler(kind, _dependency_down)
    app.add_exception_handler(Exception, _unexpected)
