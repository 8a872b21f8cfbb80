"""The dead letter: a message that cannot be decoded or applied goes to ``qllm.deadletter``.

The record is the original bytes under the original key, so nothing is lost or re-encoded; the
reason and the origin travel in headers: ``reason``, ``error``, ``original_topic``,
``original_partition``, ``original_offset``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from producers.publisher import Publisher


@dataclass(frozen=True)
class Message:
    """A consumed Kafka message, as the pipeline needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Rejected:
    message: Message
    error: str
    reason: str

    def headers(self) -> list[tuple[str, bytes]]:
        m = self.message
        return [
            ("reason", self.reason.encode()),
            ("error", self.error.encode()),
            ("original_topic", m.topic.encode()),
            ("original_partition", str(m.partition).encode()),
            ("original_offset", str(m.offset).encode()),
        ]


class DeadLetters(Protocol):
    async def send(self, rejected: Rejected) -> None: ...


class KafkaDeadLetters:
    """Publishes rejected messages with the idempotent producer and waits for the ack."""

    def __init__(self, publisher: Publisher, topic: str) -> None:
        self._publisher, self._topic = publisher, topic

    async def send(self, rejected: Rejected) -> None:
        message = rejected.message
        await self._publisher.publish_raw(
            self._topic, message.key, message.value, headers=rejected.headers()
        )
