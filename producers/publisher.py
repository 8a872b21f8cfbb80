"""The idempotent producer: ``publish`` returns the broker's acknowledgement or raises.

Options are explicit: ``acks="all"`` and ``enable_idempotence=True`` (DESIGN.md, Guarantees), and
every wait is bounded — starting against an unreachable broker and a publish that is not
acknowledged in time both raise ``BrokerUnavailable`` (retriable) instead of hanging.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from compose.settings import Settings
from producers.errors import BrokerUnavailable
from producers.topics import key_for, topic_for
from schemas.codec import Codec, default_codec
from schemas.records import Record


@dataclass(frozen=True)
class PublisherOptions:
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 15.0
    linger_ms: int = 0


@dataclass(frozen=True)
class Ack:
    topic: str
    partition: int
    offset: int


class Publisher:
    """``async with Publisher(settings) as p: await p.publish(record)``."""

    def __init__(
        self,
        settings: Settings,
        options: PublisherOptions | None = None,
        codec: Codec | None = None,
    ) -> None:
        self._settings = settings
        self._options = options or PublisherOptions()
        self._codec = codec or default_codec()
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._options.linger_ms,
            request_timeout_ms=int(self._options.ack_timeout_s * 1000),
        )
        try:
            await asyncio.wait_for(producer.start(), self._options.connect_timeout_s)
        except (TimeoutError, KafkaError, OSError) as exc:
            await producer.stop()
            raise BrokerUnavailable(self._settings.kafka_bootstrap, repr(exc)) from exc
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def publish(self, record: Record) -> Ack:
        """Encode ``record``, send it to its topic under its key, and wait for ``acks=all``."""
        topic = topic_for(record, self._settings)
        return await self.publish_raw(topic, key_for(record), self._codec.encode(record))

    async def publish_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Ack:
        """Send already-encoded bytes (the dead letter forwards what it could not decode)."""
        if self._producer is None:
            raise RuntimeError("Publisher.publish before start()")
        try:
            meta: Any = await asyncio.wait_for(
                self._producer.send_and_wait(topic, value, key=key, headers=headers),
                self._options.ack_timeout_s,
            )
        except (TimeoutError, KafkaError) as exc:
            raise BrokerUnavailable(self._settings.kafka_bootstrap, repr(exc)) from exc
        return Ack(meta.topic, meta.partition, meta.offset)
