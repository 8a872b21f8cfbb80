"""Idempotent schema migrations of the Cassandra event store, run at start-up.

Each migration is a CQL statement that can run again harmlessly (``IF NOT EXISTS``); they run in
order and are never edited — a change appends one.

``events_by_stream``: partition ``(stream_id, partition_nr)`` with ``partition_nr = (seq-1) // N``
so a long stream never grows one unbounded partition (the Akka Persistence Cassandra layout),
clustered by ``seq``. ``events_by_time``: partition by time bucket, clustered by the event's
microsecond time, for audit and global replay by time range. ``occurred_us`` is a bigint of
microseconds because CQL ``timestamp`` keeps only milliseconds.
"""

from __future__ import annotations

from typing import Any


def migrations(keyspace: str, replication: int) -> list[str]:
    return [
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {replication}}}",
        f"""CREATE TABLE IF NOT EXISTS {keyspace}.events_by_stream (
            stream_id text, partition_nr bigint, seq bigint,
            event_id text, type text, occurred_us bigint, payload blob,
            PRIMARY KEY ((stream_id, partition_nr), seq)
        ) WITH CLUSTERING ORDER BY (seq ASC)""",
        f"""CREATE TABLE IF NOT EXISTS {keyspace}.events_by_time (
            bucket bigint, occurred_us bigint, stream_id text, seq bigint,
            event_id text, type text, payload blob,
            PRIMARY KEY ((bucket), occurred_us, stream_id, seq)
        ) WITH CLUSTERING ORDER BY (occurred_us ASC, stream_id ASC, seq ASC)""",
    ]


def migrate(session: Any, keyspace: str, replication: int) -> None:
    """Apply every migration (blocking: call it from a thread)."""
    for statement in migrations(keyspace, replication):
        session.execute(statement, timeout=60)
