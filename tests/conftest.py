"""Shared fixtures: the settings object and handles on the real stack.

Stack fixtures check that the service answers. On a laptop without the stack they skip; under
``CI=true`` a missing service fails the test, never skips it (the test command starts the stack
with ``python -m compose.stack up`` before pytest runs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from compose.settings import Settings
from tests.requirements import missing

if TYPE_CHECKING:
    from tests.sdk.live import Live


def _reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, int(port))) == 0


def require_service(name: str, address: str) -> None:
    """Skip (laptop) or fail (CI) when ``address`` does not answer."""
    if _reachable(address):
        return
    missing(f"{name} is not reachable at {address}; start it with `python -m compose.stack up`")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> str:
    require_service("Kafka", settings.kafka_bootstrap)
    return settings.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(settings: Settings) -> str:
    require_service("Redis", settings.redis_url.split("//", 1)[1].split("/", 1)[0])
    return settings.redis_url


@pytest.fixture(scope="session")
def cassandra_contact(settings: Settings) -> str:
    require_service("Cassandra", settings.cassandra_contact)
    return settings.cassandra_contact


@pytest.fixture(scope="session")
def cassandra_cluster(cassandra_contact: str) -> Iterator[object]:
    from cassandra.cluster import Cluster

    host, _, port = cassandra_contact.rpartition(":")
    cluster = Cluster([host], port=int(port), protocol_version=5, connect_timeout=10)
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="session")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap: str,
    redis_url: str,
    cassandra_cluster: Any,
) -> Iterator[Live]:
    """One live service for the SDK, CLI and dashboard tests (``tests.sdk.live``), started on
    first use and stopped at the end of the session."""
    from tests.sdk.live import running_live

    with running_live(tmp_path_factory.mktemp("live"), cassandra_cluster) as running:
        yield running


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic, keyspace and key names, so tests never share state."""
    return uuid.uuid4().hex[:10]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def _descendants(pid: int) -> set[int]:
    seen, todo = set(), [pid]
    while todo:
        for child in _children(todo.pop()) - seen:
            seen.add(child)
            todo.append(child)
    return seen


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


def _reaped_zombie(pid: int) -> bool:
    """True for a child that had exited and was not yet waited on (a zombie: it has no command
    line and runs nothing): it is reaped here, and not reported as left running."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # gone already
    if state != "Z":
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Safety net: no service a test started (API, workers, stream processors) outlives the run.

    Fixtures stop what they start; this catches what a failing or interrupted fixture left, so
    nothing keeps running against a stack that is about to go down. It names what it stopped.
    """
    leftovers = {pid for pid in _descendants(os.getpid()) if not _reaped_zombie(pid)}
    named = {pid: _cmdline(pid) for pid in leftovers}
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in leftovers):
        for pid in leftovers:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if leftovers:
        print(f"\nstopped {len(leftovers)} process(es) the tests left running:")
        for pid in sorted(leftovers):
            print(f"  {pid}: {named[pid]}")
