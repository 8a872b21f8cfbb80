"""The idempotent producer: ``publish`` returns the broker's acknowledgement or raises.

Options are explicit: ``acks="all"`` and ``enable_idempotence=True`` (DESIGN.md, Guarantees), and
every wait is bounded — starting against an unreachable broker and a publish that is not
acknowledged in time both raise ``BrokerUnavailable`` (retriable) instead of hanging.

A publish that fails leaves the producer's idempotence state unknown: after a broker restart the
timed-out batch's sequence numbers no longer match the broker's, and aiokafka (unlike the Java
client) never bumps the epoch, so every later send to that partition fails with
OutOfOrderSequenceNumber. So a failed publish retires its producer, and the next publish starts a
fresh one (a new producer id, sequences from zero). Found by tests/reliability's Kafka outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
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

Headers = list[tuple[str, bytes]] | None
Outgoing = tuple[str, bytes | None, bytes | None, Headers]  # topic, key, value, headers


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
        self._started = False
        self._starting: asyncio.Future[AIOKafkaProducer] | None = None

    async def start(self) -> None:
        self._started = True
        self._producer = await self._new_producer()

    async def _new_producer(self) -> AIOKafkaProducer:
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
        return producer

    async def stop(self) -> None:
        self._started = False
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def _current(self) -> AIOKafkaProducer:
        """The live producer; after a failure, one fresh start shared by all concurrent callers."""
        if not self._started:
            raise RuntimeError("Publisher.publish before start()")
        if self._producer is not None:
            return self._producer
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._new_producer())
            self._starting.add_done_callback(_retrieve)
        producer = await asyncio.shield(self._starting)
        if self._producer is None and self._started:
            self._producer = producer
        return producer

    def _retire(self, producer: AIOKafkaProducer) -> None:
        if self._producer is producer:
            self._producer = None
        stopping = asyncio.wait_for(producer.stop(), self._options.ack_timeout_s)
        asyncio.ensure_future(stopping).add_done_callback(_retrieve)  # best effort: it failed

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

    async def publish_all(self, records: Sequence[Record]) -> list[Ack]:
        """Publish ``records`` in order as one burst: all are queued before any is awaited, so
        the producer sends each partition's share in one request instead of one round trip per
        record (a journal append's events share a key). Returns once every one is acknowledged
        (``acks=all``); ``BrokerUnavailable`` as for ``publish``, and then none of them may be
        assumed published."""
        return await self._publish(
            [(topic_for(r, self._settings), key_for(r), self._codec.encode(r), None)
             for r in records]
        )  # fmt: skip

    async def publish_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers = None,
    ) -> Ack:
        """Send already-encoded bytes (the dead letter forwards what it could not decode)."""
        [ack] = await self._publish([(topic, key, value, headers)])
        return ack

    async def _publish(self, batch: Sequence[Outgoing]) -> list[Ack]:
        """Send ``batch`` and wait for every acknowledgement, at most ``ack_timeout_s``."""
        if not batch:
            return []
        try:
            metas = await asyncio.wait_for(self._send(batch), self._options.ack_timeout_s)
        except (TimeoutError, KafkaError) as exc:
            raise BrokerUnavailable(self._settings.kafka_bootstrap, repr(exc)) from exc
        return [Ack(m.topic, m.partition, m.offset) for m in metas]

    async def _send(self, batch: Sequence[Outgoing]) -> list[Any]:
        """Queue ``batch`` in order on the live producer, then await it together; a failed or
        abandoned send retires that producer."""
        producer = await self._current()
        try:
            sent = [await producer.send(topic, value, key=key, headers=headers)
                    for topic, key, value, headers in batch]  # fmt: skip
            results = await asyncio.gather(*sent, return_exceptions=True)
        except (KafkaError, asyncio.CancelledError):
            self._retire(producer)
            raise
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            self._retire(producer)
            raise failed[0]
        return results


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a background task's failure as seen (it is reported to the callers, not the log)."""
    if not task.cancelled():
        task.exception()
