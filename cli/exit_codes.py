"""What ``qllm`` exits with, so scripts can branch on it without parsing text.

| code | meaning |
|---|---|
| 0 | done |
| 1 | the API refused the request (400/409/422 and other errors not listed below) |
| 2 | bad command line (typer's usage error) |
| 3 | not authenticated or not allowed (401/403): run ``qllm login`` or use another key |
| 4 | no such thing (404): job, model, key |
| 5 | the service is unreachable or unavailable (connection refused, 503, 429 after retries) |
| 6 | a followed job ended without succeeding (FAILED or CANCELLED) |
| 7 | the local stack is not healthy (``qllm status``) |
| 130 | interrupted (Ctrl-C) |
"""

from __future__ import annotations

from sdk import errors

OK, API_ERROR, USAGE, AUTH, NOT_FOUND, UNAVAILABLE, JOB_FAILED, STACK_DOWN = 0, 1, 2, 3, 4, 5, 6, 7
INTERRUPTED = 130


def of(error: errors.QllmError) -> int:
    """The exit code for an SDK error."""
    if isinstance(error, errors.NotAuthenticated | errors.PermissionDenied):
        return AUTH
    if isinstance(error, errors.NotFound):
        return NOT_FOUND
    if isinstance(error, errors.TransportError | errors.ServiceUnavailable | errors.RateLimited):
        return UNAVAILABLE
    return API_ERROR
