"""The fault-injection suite's own stack: real Kafka, Cassandra and Redis on free ports.

Every scenario here stops, restarts or flushes servers, so none of them may touch the dev stack
(default ports) or the test run's stack (``compose/test.sh``'s ports): they all run against one
PRIVATE stack this conftest starts in a temporary folder (the pattern of
``tests/stack/test_launcher.py``) and removes with ``down(wipe=True)`` at the end.

Deliberate choice: one private stack for the whole suite (session scope), not one per module —
starting Cassandra costs most of a minute on two busy cores, and the suite must stay within its
share of CI. Isolation between scenarios comes from per-scenario topic prefixes, keyspaces and
Redis key prefixes (``scenario_settings``), and ``stack`` restarts whatever a previous scenario
left stopped (``Stack.up`` starts only what is missing) before handing the stack out.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from compose.settings import Settings, StackPorts
from compose.stack import Stack
from tests.requirements import require_stack_tools


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: fault injection against a private stack (tests/reliability)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_settings(stack_dir: os.PathLike[str] | str) -> Settings:
    """Settings of a stack in ``stack_dir`` on free loopback ports, addresses spelled out (so
    ``QLLM_KAFKA_BOOTSTRAP`` & co. of the environment can never point a scenario elsewhere)."""
    ports = StackPorts(kafka=_free_port(), kafka_controller=_free_port(),
                       cassandra_cql=_free_port(), cassandra_storage=_free_port(),
                       redis=_free_port())  # fmt: skip
    return Settings(
        stack_dir=stack_dir,  # type: ignore[arg-type]
        ports=ports,
        kafka_bootstrap=f"127.0.0.1:{ports.kafka}",
        cassandra_contact=f"127.0.0.1:{ports.cassandra_cql}",
        redis_url=f"redis://127.0.0.1:{ports.redis}/0",
        ready_timeout_s=240,
    )


@pytest.fixture(scope="session")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_stack_tools()
    for noisy in ("cassandra", "aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    stack = Stack(private_settings(tmp_path_factory.mktemp("private-stack")), echo=lambda _: None)
    try:
        stack.up()
        yield stack
    finally:
        stack.down(wipe=True)


@pytest.fixture
def stack(private_stack: Stack) -> Stack:
    """The private stack, every server running (restarts what an earlier scenario stopped)."""
    private_stack.up()
    return private_stack


@pytest.fixture
def scenario_settings(stack: Stack) -> Settings:
    """The private stack's settings with this scenario's own topics, keyspace and Redis keys."""
    tag = uuid.uuid4().hex[:10]
    return stack.settings.model_copy(
        update={"topic_prefix": f"r{tag}.", "cassandra_keyspace": f"rel_{tag}"}
    )
