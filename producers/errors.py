"""Errors of the producers; ``retriable`` tells the caller whether trying again can help."""

from __future__ import annotations


class ProducerError(Exception):
    retriable = False


class BrokerUnavailable(ProducerError):
    """No broker answered (or acknowledged) within the bounded time: try again later."""

    retriable = True

    def __init__(self, bootstrap: str, reason: str) -> None:
        super().__init__(f"Kafka at {bootstrap} unavailable: {reason}")
        self.bootstrap = bootstrap
        self.reason = reason


class NoTopicFor(ProducerError):
    """A record type that has no topic in DESIGN.md's table."""

    def __init__(self, record_type: str) -> None:
        super().__init__(f"no topic carries {record_type}")
        self.record_type = record_type
