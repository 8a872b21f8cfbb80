"""Readiness probes of the services the API depends on, each bounded in time.

A probe opens its own short-lived connection: readiness must report what a fresh client would
see, not what a pooled connection remembers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from compose.settings import Settings

PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Probe:
    service: str
    ready: bool
    latency_ms: float
    detail: str


async def _kafka(settings: Settings) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=2000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return f"{len(cluster['brokers'])} broker(s)"


def _cassandra_blocking(settings: Settings) -> str:
    from cassandra.cluster import Cluster

    host, _, port = settings.cassandra_contact.rpartition(":")
    cluster = Cluster([host], port=int(port), protocol_version=5, connect_timeout=2)
    try:
        row = cluster.connect().execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()
    return f"Cassandra {row.release_version}"


async def _cassandra(settings: Settings) -> str:
    return await asyncio.to_thread(_cassandra_blocking, settings)


async def _redis(settings: Settings) -> str:
    from compose.redis_clients import async_client

    client = async_client(settings.redis_url, socket_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "PONG"


async def _timed(service: str, check: object, settings: Settings) -> Probe:
    start = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(settings), PROBE_TIMEOUT_S)  # type: ignore[operator]
        ready = True
    except Exception as err:  # any failure means "not ready"; the reason is reported
        detail, ready = f"{type(err).__name__}: {err}"[:200], False
    return Probe(service, ready, round((time.perf_counter() - start) * 1000, 1), detail)


async def probe_all(settings: Settings) -> list[Probe]:
    checks = {"kafka": _kafka, "cassandra": _cassandra, "redis": _redis}
    return list(await asyncio.gather(*(_timed(n, c, settings) for n, c in checks.items())))
