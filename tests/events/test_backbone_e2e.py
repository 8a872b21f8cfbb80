"""End to end on the real stack: Kafka → the Faust stream processor (a subprocess) → Cassandra →
Redis, plus the dead letter, replay, rebuild and SSE resume."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from compose.settings import Settings
from producers.publisher import Publisher
from producers.topics import DEADLETTER, JOB_EVENTS, TRAINING, provision
from schemas import jobs
from schemas.codec import default_codec
from schemas.records import Event, command
from schemas.snapshot import to_json
from streams.projection import Projection, ProjectionKeys
from streams.rebuild import rebuild
from streams.store.base import StoredEvent
from streams.store.cassandra import CassandraEventStore, StoreOptions

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: Any,
    settings: Settings,
    kafka_bootstrap: str,
    redis_url: str,
    cassandra_cluster: Any,
) -> Iterator[Settings]:
    """Own topics, keyspace and Redis prefix, and a stream-processor subprocess on them."""
    tag = uuid.uuid4().hex[:10]
    own = settings.model_copy(
        update={"topic_prefix": f"t{tag}.", "cassandra_keyspace": f"ev_{tag}"}
    )
    asyncio.run(provision(own))
    env = {
        **os.environ,
        "QLLM_TOPIC_PREFIX": own.topic_prefix,
        "QLLM_CASSANDRA_KEYSPACE": own.cassandra_keyspace,
    }
    log = (tmp_path_factory.mktemp("streams") / "worker.log").open("wb")  # never a full pipe
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams", "worker"],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        yield own
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
        session = cassandra_cluster.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {own.cassandra_keyspace}", timeout=60)


@pytest.fixture
async def store(stack: Settings) -> AsyncIterator[CassandraEventStore]:
    opened = await CassandraEventStore.open(StoreOptions.from_settings(stack))
    yield opened
    await opened.close()


@pytest.fixture
async def redis(stack: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def publisher(stack: Settings) -> AsyncIterator[Publisher]:
    async with Publisher(stack) as opened:
        yield opened


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


def job_events(job_id: str, steps: int = 2) -> list[Event]:
    """A realistic job history, decided by the pure lifecycle."""
    state, events = jobs.JobState(), []
    plan: list[tuple[type[Any], dict[str, Any]]] = [
        (
            jobs.StartTraining,
            {"owner": "ann", "model_id": "m1", "preset": "tiny", "max_steps": steps},
        ),
        (jobs.ClaimJob, {"worker_id": "w1"}),
        (jobs.MarkJobRunning, {"worker_id": "w1"}),
        *[(jobs.RecordTrainingStep, {"step": i, "loss": 1.0 / i}) for i in range(1, steps + 1)],
    ]
    for cls, payload in plan:
        for event in jobs.decide(state, command(cls, job_id, "ann", **payload)):
            state = jobs.evolve(state, event)
            events.append(event)
    return events


async def projected(redis: Redis, stack: Settings, job_id: str) -> tuple[int, Any]:
    keys = ProjectionKeys.from_settings(stack)
    return await Projection(redis, keys, None, default_codec()).current(job_id)  # type: ignore[arg-type]


async def test_command_becomes_an_event_in_cassandra_and_the_redis_projection(
    stack: Settings, publisher: Publisher, store: CassandraEventStore, redis: Redis
) -> None:
    job_id = f"job-{uuid.uuid4().hex}"
    start = command(
        jobs.StartTraining, job_id, "ann", owner="ann", model_id="m1", preset="tiny", max_steps=3
    )
    await publisher.publish(start)
    consumer = AIOKafkaConsumer(
        stack.topic(TRAINING),
        bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"trainer-{job_id}", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:  # the training worker's part: decode the command, decide, publish the events
        message = await asyncio.wait_for(consumer.getone(), 30)
        received = default_codec().decode(message.value)
        for event in jobs.decide(jobs.JobState(), received):  # type: ignore[arg-type]
            await publisher.publish(event)
        await consumer.commit()
    finally:
        await consumer.stop()

    async def in_redis() -> bool:
        return (await projected(redis, stack, job_id))[0] == 1

    await eventually(in_redis)
    [stored] = await store.read_stream(job_id)
    assert default_codec().decode(stored.payload).causation_id == start.event_id
    _, state = await projected(redis, stack, job_id)
    assert (state.status, state.owner, state.max_steps) == (jobs.JobStatus.PENDING, "ann", 3)
    keys = ProjectionKeys.from_settings(stack)
    assert job_id.encode() in await redis.zrange(keys.owner("ann", "job"), 0, -1)


async def test_events_published_twice_leave_store_and_projection_unchanged(
    stack: Settings, publisher: Publisher, store: CassandraEventStore, redis: Redis
) -> None:
    job_id = f"job-{uuid.uuid4().hex}"
    events = job_events(job_id)
    for event in events:
        await publisher.publish(event)

    async def done() -> bool:
        return (await projected(redis, stack, job_id))[0] == len(events)

    await eventually(done)
    stored_before = await store.read_stream(job_id)
    projection_before = await redis.hgetall(ProjectionKeys.from_settings(stack).stream(job_id))
    marker = job_events(f"job-{uuid.uuid4().hex}", steps=1)
    for event in [*events, *marker]:  # the marker stream shows the duplicates were processed
        await publisher.publish(event)

    async def marker_done() -> bool:
        return (await projected(redis, stack, marker[0].stream_id))[0] == len(marker)

    await eventually(marker_done)
    assert await store.read_stream(job_id) == stored_before
    assert (
        await redis.hgetall(ProjectionKeys.from_settings(stack).stream(job_id)) == projection_before
    )


async def test_poison_message_is_dead_lettered_with_its_reason_and_the_next_event_applies(
    stack: Settings, publisher: Publisher, redis: Redis
) -> None:
    job_id = f"job-{uuid.uuid4().hex}"
    poison = b"\xc3\x01 not avro at all"
    ack = await publisher.publish_raw(stack.topic(JOB_EVENTS), job_id.encode(), poison)
    [good] = job_events(job_id)[:1]
    await publisher.publish(good)

    async def applied() -> bool:
        return (await projected(redis, stack, job_id))[0] == 1

    await eventually(applied)
    consumer = AIOKafkaConsumer(
        stack.topic(DEADLETTER),
        bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"ops-{job_id}",
    )  # fmt: skip
    await consumer.start()
    try:
        found = None
        while found is None:
            message = await asyncio.wait_for(consumer.getone(), 30)
            if message.key == job_id.encode():
                found = message
    finally:
        await consumer.stop()
    headers = {name: value.decode() for name, value in found.headers}
    assert found.value == poison
    assert (
        "unknown schema fingerprint" in headers["reason"]
        and headers["error"] == "UnknownFingerprint"
    )
    assert (headers["original_topic"], headers["original_offset"]) == (ack.topic, str(ack.offset))


async def _snapshot(redis: Redis, prefix: str) -> dict[bytes, Any]:
    found: dict[bytes, Any] = {}
    async for key in redis.scan_iter(match=f"{prefix}:*"):
        kind = await redis.type(key)
        found[key] = await (
            redis.hgetall(key) if kind == b"hash" else redis.zrange(key, 0, -1, withscores=True)
        )
    return found


async def test_replay_folds_to_the_projected_state_and_rebuild_equals_live(
    stack: Settings, publisher: Publisher, store: CassandraEventStore, redis: Redis
) -> None:
    job_id = f"job-{uuid.uuid4().hex}"
    events = job_events(job_id, steps=4)
    for event in events:
        await publisher.publish(event)

    async def done() -> bool:
        return (await projected(redis, stack, job_id))[0] == len(events)

    await eventually(done)
    state = jobs.JobState()
    for stored in await store.read_stream(job_id):
        state = jobs.evolve(state, default_codec().decode(stored.payload))  # type: ignore[arg-type]
    assert to_json(state) == to_json((await projected(redis, stack, job_id))[1])

    keys = ProjectionKeys.from_settings(stack)
    live = await _snapshot(redis, keys.prefix)
    await rebuild(store, redis, keys, default_codec())
    assert await _snapshot(redis, keys.prefix) == live


def _sse_app(stack: Settings, store: CassandraEventStore, redis: Redis) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from streams.feed import Feed, parse_last_event_id
    from streams.sse import MEDIA_TYPE, sse_frames

    feed = Feed(store, redis, ProjectionKeys.from_settings(stack), default_codec())

    async def events(request: Request) -> StreamingResponse:
        last = parse_last_event_id(request.headers.get("last-event-id"))
        frames = sse_frames(feed.follow(request.path_params["job_id"], last))
        return StreamingResponse(frames, media_type=MEDIA_TYPE)

    return Starlette(routes=[Route("/jobs/{job_id}/events", events)])


async def test_sse_resume_delivers_exactly_the_later_events_including_those_during_replay(
    stack: Settings, publisher: Publisher, store: CassandraEventStore, redis: Redis
) -> None:
    import httpx
    import uvicorn

    job_id = f"job-{uuid.uuid4().hex}"
    events = job_events(job_id, steps=5)  # 8 events
    for event in events[:4]:
        await publisher.publish(event)

    async def first_four() -> bool:
        return (await projected(redis, stack, job_id))[0] == 4

    await eventually(first_four)
    server = uvicorn.Server(
        uvicorn.Config(_sse_app(stack, store, redis), port=0, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, result=server.started))
    port = server.servers[0].sockets[0].getsockname()[1]

    async def publish_rest() -> None:
        for event in events[4:]:
            await publisher.publish(event)

    ids: list[int] = []
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            url = f"http://127.0.0.1:{port}/jobs/{job_id}/events"
            async with client.stream("GET", url, headers={"Last-Event-ID": "2"}) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                rest = asyncio.create_task(publish_rest())  # arrives while the replay runs
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        ids.append(int(line[4:]))
                    if len(ids) == len(events) - 2:
                        break
                await rest
    finally:
        server.should_exit = True
        await serving
    assert ids == list(range(3, len(events) + 1))


async def test_the_feed_never_runs_ahead_of_the_projection(
    stack: Settings, store: CassandraEventStore, redis: Redis
) -> None:
    """An event stored but not yet projected is held back until the projection applies it, so a
    follower that saw an event reads a state that includes it (a CI run saw ``JobSucceeded`` on
    a resumed feed, then ``RUNNING`` from the status endpoint)."""
    from streams.feed import Feed

    codec, keys = default_codec(), ProjectionKeys.from_settings(stack)
    job_id = f"job-{uuid.uuid4().hex}"
    items = [(event, codec.encode(event)) for event in job_events(job_id, steps=2)]  # 5 events
    await store.append([StoredEvent.of(event, payload) for event, payload in items])
    projection = Projection(redis, keys, store, codec)
    await projection.apply(items[:3])
    seen: list[int] = []

    async def follow() -> None:
        async for event in Feed(store, redis, keys, codec).follow(job_id):
            seen.append(event.seq)

    following = asyncio.create_task(follow())
    try:
        await eventually(lambda: asyncio.sleep(0, result=len(seen) >= 3), timeout=10)
        await asyncio.sleep(0.5)
        assert seen == [1, 2, 3]  # 4 and 5 are in Cassandra, not yet projected
        await projection.apply(items[3:])
        await eventually(lambda: asyncio.sleep(0, result=len(seen) >= 5), timeout=10)
        assert seen == [1, 2, 3, 4, 5]
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
