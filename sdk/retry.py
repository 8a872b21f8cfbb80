"""When to try a request again, and how long to wait: pure, so both clients share it.

Retried: ``429`` and ``503`` (the API refused before doing anything: no command was written),
and connection failures before a request was sent. The wait is the server's ``Retry-After``
when it sends one, else exponential backoff with full jitter; a ``Retry-After`` longer than
``max_wait_s`` (a login lockout of minutes) is not waited out: the error goes to the caller.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # tries in all, the first included
    base_s: float = 0.25
    cap_s: float = 8.0
    max_wait_s: float = 30.0
    stream_reconnects: int = 5  # SSE resumes in a row without a new event in between
    statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def delay(self, attempt: int, retry_after_s: float | None) -> float | None:
        """Seconds to wait before try ``attempt + 1`` (0-based ``attempt``); None: give up."""
        if attempt + 1 >= self.attempts:
            return None
        if retry_after_s is not None:
            return retry_after_s if retry_after_s <= self.max_wait_s else None
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))

    def reconnect_delay(self, attempt: int) -> float | None:
        if attempt >= self.stream_reconnects:
            return None
        return min(self.cap_s, self.base_s * 2**attempt)


NO_RETRY = RetryPolicy(attempts=1, stream_reconnects=0)
