"""Bounded exponential backoff for infrastructure errors of the stream processor.

An outage of Cassandra, Redis or Kafka is not the message's fault: dead-lettering would lose
nothing but order, and crashing the agent gains nothing. So the operation is tried again after
``first_delay_s``, doubling up to ``max_delay_s``; after ``max_attempts`` (``None``: without end,
the processor simply waits out the outage) the last error propagates and nothing is acked.
Operations retried this way must be idempotent: the store append and the projection are.
Everything else (a bug, a bad message) propagates at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import cassandra
from cassandra.cluster import NoHostAvailable
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from producers.errors import BrokerUnavailable
from streams.store.base import StoreUnavailable

T = TypeVar("T")
_LOG = logging.getLogger(__name__)


class ProcessorError(Exception):
    """Base of the stream processor's own errors."""


class TransientError(ProcessorError):
    """A condition that another attempt may clear (the projection moved under its writer)."""


TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    StoreUnavailable,
    BrokerUnavailable,
    NoHostAvailable,
    cassandra.OperationTimedOut,
    cassandra.Unavailable,
    cassandra.Timeout,
    cassandra.CoordinationFailure,
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_s: float = 0.05
    max_delay_s: float = 5.0
    max_attempts: int | None = None

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1))


async def retrying(
    policy: RetryPolicy,
    operation: Callable[[], Awaitable[T]],
    what: str,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> T:
    """``await operation()``, again after a pause for each transient error, within ``policy``."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except transient as exc:
            if policy.max_attempts is not None and attempt >= policy.max_attempts:
                raise
            pause = policy.delay(attempt)
            _LOG.warning("%s failed (attempt %d), retrying in %.2fs: %r", what, attempt, pause, exc)
            await asyncio.sleep(pause)
