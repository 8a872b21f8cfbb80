"""The results listener: one Kafka consumer of ``qllm.results.inference`` per API process.

Requests wait on a per-request queue (``subscribe`` before the command is published, so no
result can slip past); one task reads the results topic and puts each result on the queue of
its request id. Results of requests this process did not make (other API instances, other
systems) are dropped.

Deliberate choices:
- Started lazily, on the first inference request, within ``results_start_timeout_s`` (past it:
  503). It reads from the end of the topic: only results of requests made after it started
  matter. Every partition is assigned to it by hand (``group_id=None``): that is what a consumer
  group of its own per instance would give, without a group join's rebalance delay, and
  nothing is committed, because nothing is worth resuming after a restart (the waiting HTTP
  requests are gone with the process).
- ``start`` resolves every partition's position before returning, so a result produced right
  after it returns is seen.
- If the reading task dies (Kafka went away), waiters get a 503 and the next request restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from api.errors import ServiceUnavailable
from api.inference_wire import Answer, Chunk, Failure, Outcome, outcome_of
from compose.settings import Settings
from producers.topics import RESULTS, provision
from schemas.codec import Codec
from schemas.errors import SchemaError

log = logging.getLogger("qllm.api.results")
_GONE = object()  # put on every queue when the reader dies
RESULTS_FETCH_MAX_WAIT_MS = 25


class ResultsListener:
    def __init__(self, settings: Settings, codec: Codec, start_timeout_s: float) -> None:
        self._settings, self._codec, self._timeout = settings, codec, start_timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Queue[object]] = {}
        self._lock = asyncio.Lock()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def ensure_started(self) -> None:
        if self._task is not None and not self._task.done():
            return
        async with self._lock:
            if self._task is not None and not self._task.done():
                return
            await self._stop_consumer()
            try:
                consumer = await asyncio.wait_for(self._open(), self._timeout)
            except (TimeoutError, KafkaError, OSError) as exc:
                raise ServiceUnavailable("kafka", f"results listener: {exc!r}") from exc
            self._consumer = consumer
            self._task = asyncio.create_task(self._read(consumer), name="results-listener")

    async def _open(self) -> AIOKafkaConsumer:
        topic = self._settings.topic(RESULTS)
        await provision(self._settings, timeout_s=self._timeout)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            # an empty fetch returns after this long, not aiokafka's 500 ms: partitions with
            # buffered records sit out the next fetch, whose wait would delay every answer
            fetch_max_wait_ms=RESULTS_FETCH_MAX_WAIT_MS,
        )
        await consumer.start()
        try:
            partitions = await _partitions(self._settings, topic, self._timeout)
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)  # resolve now, not at the first fetch
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    @contextlib.asynccontextmanager
    async def subscribe(self, request_id: str) -> AsyncIterator[asyncio.Queue[object]]:
        """A queue of ``request_id``'s outcomes for as long as the block runs."""
        await self.ensure_started()
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._waiting[request_id] = queue
        try:
            yield queue
        finally:
            self._waiting.pop(request_id, None)

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    for message in messages:
                        self._dispatch(message.key, message.value, message.headers)
        except (KafkaError, OSError) as exc:
            log.error("results listener stopped: %r", exc)
            for queue in self._waiting.values():
                queue.put_nowait(_GONE)

    def _dispatch(self, key: bytes | None, value: bytes | None, headers: object) -> None:
        queue = self._waiting.get(key.decode()) if key else None
        if queue is None or value is None:
            return
        try:
            record = self._codec.decode(value)
        except SchemaError as exc:
            log.warning("undecodable result for %s: %s", key, exc)
            return
        kind = dict(headers or ()).get("qllm-kind")  # type: ignore[call-overload]
        found = outcome_of(record, kind)
        if found is not None:
            queue.put_nowait(found)

    async def _stop_consumer(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_consumer()


async def next_outcome(queue: asyncio.Queue[object], timeout_s: float) -> Outcome:
    """The request's next outcome; ``TimeoutError`` past ``timeout_s``, 503 if the reader died."""
    item = await asyncio.wait_for(queue.get(), max(timeout_s, 0.0))
    if item is _GONE:
        raise ServiceUnavailable("kafka", "the results listener lost Kafka")
    assert isinstance(item, (Chunk, Answer, Failure))
    return item


async def _partitions(settings: Settings, topic: str, timeout_s: float) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    await admin.start()
    try:
        for _ in range(50):  # a topic just created (here or by a worker) may not be described yet
            (described,) = await admin.describe_topics([topic])
            numbers = sorted(p["partition"] for p in described.get("partitions", ()))
            if numbers:
                return [TopicPartition(topic, n) for n in numbers]
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    raise KafkaError(f"topic {topic} has no partitions")
