"""Structured JSON logs, one object per line, with the request id and no secrets.

Secrets never reach a log line by construction (the access log records method, route template,
status and timing — never headers, bodies or query strings), and as a second line of defence the
formatter scrubs anything that looks like a bearer token, a JWT, an API key or a password
assignment from the message and from every extra field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from api.observability.context import current_request_id

ROOT = "qllm"
_SECRET_PATTERNS = (
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"qllm_[A-Za-z0-9]+_[A-Za-z0-9_-]+"),  # an API key
    re.compile(r"(?i)(password|secret|api[_-]?key|authorization)(\"?\s*[:=]\s*)\S+"),
)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _mask(match: re.Match[str]) -> str:
    kept = match.group(1) + match.group(2) if match.lastindex else ""  # keep "password=" itself
    return kept + "[REDACTED]"


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_mask, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in payload:
                payload[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def configure(level: str) -> None:
    """Give the ``qllm`` logger one JSON handler on stderr (idempotent across app builds)."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(level.upper())
    if not any(getattr(h, "_qllm_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._qllm_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
