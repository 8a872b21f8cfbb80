"""Each server of the stack is real and usable from Python with the clients the product uses."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.stack


async def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def _consume(
    bootstrap: str, topic: str, group: str, expected: int
) -> list[tuple[int, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    seen: list[tuple[int, bytes]] = []
    try:
        async with asyncio.timeout(60):
            while len(seen) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, messages in batch.items():
                    seen.extend((tp.partition, m.value) for m in messages if m.value is not None)
        await consumer.commit()
    finally:
        await consumer.stop()
    return seen


async def test_kafka_round_trip_through_a_consumer_group_over_several_partitions(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"test.stack.{unique}", f"group-{unique}"
    await _create_topic(kafka_bootstrap, topic, partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",
                                enable_idempotence=True)  # fmt: skip
    await producer.start()
    try:
        sent = [f"message-{i}".encode() for i in range(30)]
        for i, value in enumerate(sent):
            await producer.send_and_wait(topic, value, key=f"key-{i % 7}".encode())
    finally:
        await producer.stop()

    seen = await _consume(kafka_bootstrap, topic, group, expected=len(sent))
    assert sorted(v for _, v in seen) == sorted(sent)
    assert {p for p, _ in seen} == {0, 1, 2}, "keys should spread over all three partitions"

    # the group committed: a new member of the same group starts after the committed offsets
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await consumer.start()
    try:
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in range(3)]
    finally:
        await consumer.stop()
    assert sum(c or 0 for c in committed) == len(sent)


def test_cassandra_keyspace_table_write_and_read(cassandra_cluster, unique: str) -> None:
    session = cassandra_cluster.connect()
    keyspace = f"stack_test_{unique}"
    session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    try:
        session.execute(f"CREATE TABLE {keyspace}.items (id uuid PRIMARY KEY, name text, n int)")
        rows = {uuid.uuid4(): (f"item-{i}", i) for i in range(5)}
        insert = session.prepare(f"INSERT INTO {keyspace}.items (id, name, n) VALUES (?, ?, ?)")
        for key, (name, n) in rows.items():
            session.execute(insert, (key, name, n))
        read = {r.id: (r.name, r.n) for r in session.execute(f"SELECT * FROM {keyspace}.items")}
        assert read == rows
    finally:
        session.execute(f"DROP KEYSPACE {keyspace}")
        session.shutdown()


async def test_redis_set_get_and_pubsub(redis_url: str, unique: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        await client.set(f"test:{unique}", "value", ex=60)
        assert await client.get(f"test:{unique}") == b"value"

        pubsub = client.pubsub()
        await pubsub.subscribe(f"test:channel:{unique}")
        await client.publish(f"test:channel:{unique}", "hello")
        async with asyncio.timeout(10):
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    break
        assert message["data"] == b"hello"
        await pubsub.aclose()
    finally:
        await client.delete(f"test:{unique}")
        await client.aclose()
