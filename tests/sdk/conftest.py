"""The live service for the SDK tests (``tests.sdk.live``, shared with the CLI and dashboard)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.sdk.live import Live, shared_live


@pytest.fixture(scope="session")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap: str,
    redis_url: str,
    cassandra_cluster: Any,
) -> Iterator[Live]:
    with shared_live(tmp_path_factory.mktemp("live"), cassandra_cluster) as running:
        yield running
