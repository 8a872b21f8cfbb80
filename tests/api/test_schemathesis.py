"""Schemathesis over every operation of the OpenAPI spec, against the real stack: no 5xx.

The API runs as its own process (``uvicorn --factory api.app:create_app``, started the way
``tests/reliability`` starts it: ``Service.api``) with a real inference worker beside it
(``python -m consumers inference`` serving ``preset:tiny``), against the real Kafka, Cassandra
and Redis, with its own topic prefix, keyspace, Redis prefix and dataset folder; the spec is
loaded from its ``/openapi.json``. Deliberate choices:

- a subprocess, not uvicorn in a thread of this process nor the in-process ASGI transport: the
  app's Redis and Kafka clients are bound to the loop they were opened on (the ASGI transport
  runs each call on a fresh loop), and a server in a thread shares the GIL with Hypothesis;
- a real inference worker, so the routes that run the model (``/api/v1/inference/*``,
  ``/v1/completions``, ``/v1/chat/completions``, ``/v1/embeddings``) answer for real and their
  200 bodies and streams are checked too. Without one, every valid request would wait out
  ``inference_timeout_s`` and answer 504. ``inference_max_tokens`` is 16 so generated requests
  stay cheap on a 2-core CPU (a larger ``max_tokens`` is the documented 422).

Every operation (72 today) is called as an admin through an API key, so each is reached past auth;
the run asserts that each one answered at least once past auth, method routing and the rate
limiter (``every_operation_reached``), else "no 5xx" would say nothing about it. Each operation
gets schemathesis's examples and coverage cases (boundaries, missing and wrong-typed fields,
unsupported methods) and ``MAX_EXAMPLES`` generated ones, and every response is checked:

- ``not_a_server_error``: no 5xx. One exception (``DOCUMENTED_5XX``): the 503 of
  ``/api/v1/system/health/ready``, which probes Kafka, Cassandra and Redis with fresh
  connections, each bounded by 3 s, and reports a slower probe (a busy 2-core CI box) as not
  ready; that is its documented answer, and its body is checked like any other.
- ``response_schema_conformance``: a documented status's body matches its declared model.

Undocumented 4xx codes are not checked (``status_code_conformance`` is off): the spec lists
each route's success and domain errors, not every auth, method and lockout status (401: a
generated junk Bearer token, which takes precedence over the key; 405: methods the coverage
phase tries; 429: this address locked out of logins after generated bad ones).

Nothing is excluded. The SSE route ``/api/v1/training/jobs/{job_id}/logs`` is covered, but only
its 404: no stream processor runs, so no job is ever projected (a live follow is covered by
``test_training_e2e``). Path ids are generated, so most id routes answer 404 (no stateful
links between operations). Every request has a ``REQUEST_TIMEOUT_S`` bound, so a route that
hangs fails the test instead of stalling it. Generation is random (the Hypothesis database
replays a failure first on the next run); a failure prints a curl command that reproduces it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from aiokafka.admin import AIOKafkaAdminClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from compose.settings import Settings
from producers.topics import TOPICS
from tests.reliability.platform import free_port, wait_ready, worker
from tests.reliability.services import ADMIN, ADMIN_PASSWORD, Service

pytestmark = [pytest.mark.stack, pytest.mark.timeout(420)]
MAX_EXAMPLES = 8
REQUEST_TIMEOUT_S = 40  # past the API's inference_timeout_s (30), so a slow answer is its 504
MODEL = "preset:tiny"
DOCUMENTED_5XX: dict[str, set[int]] = {"GET /api/v1/system/health/ready": {503}}
# answers that say the call did not get past auth, method routing or the rate limiter
NOT_REACHED = {401, 403, 405, 429}


@dataclass
class Served:
    base_url: str
    headers: dict[str, str]
    services: list[Service]
    statuses: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def tails(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.tail(40)}" for s in self.services)


def _wait_for_the_worker(http: httpx.Client, headers: dict[str, str], timeout_s: float) -> None:
    """Until one generation is answered: the worker owns its partitions, the model is loaded."""
    deadline = time.monotonic() + timeout_s
    body = {"model": MODEL, "prompt": "def f(x):", "max_tokens": 2, "temperature": 0}
    while True:
        answer = http.post("/api/v1/inference/generate", json=body, headers=headers)
        if answer.status_code == 200:
            return
        assert answer.status_code == 504, answer.text  # not yet answered: anything else is wrong
        assert time.monotonic() < deadline, f"no inference answer in {timeout_s}s"


async def _delete_topics(settings: Settings) -> None:
    """This run's topics, named from the table (no listing of every topic), so that runs do not
    pile partitions up on a long-lived stack."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic(spec.name) for spec in TOPICS], timeout_ms=30_000)
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def served(
    settings: Settings,
    kafka_bootstrap: str,
    redis_url: str,
    cassandra_cluster: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """The API and an inference worker as processes of their own, and an admin API key."""
    unique = uuid.uuid4().hex[:10]
    own = settings.model_copy(
        update={"topic_prefix": f"tst{unique}.", "cassandra_keyspace": f"api_st_{unique}"}
    )
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    # a bad key in generated headers must never lock this address out of key auth
    api = Service.api(own, folder, "api", port, inference_timeout_s="30",
                      inference_max_tokens="16", api_key_max_failures="1000000")  # fmt: skip
    inference = worker("inference", own, folder, "inference")
    base_url = f"http://127.0.0.1:{port}"
    try:
        inference.start()
        api.start()
        wait_ready(base_url, api, timeout_s=120, path="/api/v1/system/health/ready")
        with httpx.Client(base_url=base_url, timeout=60) as http:
            credentials = {"username": ADMIN, "password": ADMIN_PASSWORD}
            login = http.post("/api/v1/auth/login", json=credentials)
            assert login.status_code == 200, login.text
            admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
            body = {"name": "schemathesis", "role": "admin", "tier": "standard"}
            created = http.post("/api/v1/auth/keys", headers=admin, json=body)
            assert created.status_code == 201, created.text
            _wait_for_the_worker(http, admin, timeout_s=120)
        yield Served(base_url, {"X-API-Key": created.json()["api_key"]}, [api, inference])
    finally:
        api.stop()
        inference.stop()
        asyncio.run(_delete_topics(own))
        session = cassandra_cluster.connect()  # type: ignore[attr-defined]
        session.execute(f"DROP KEYSPACE IF EXISTS {own.cassandra_keyspace}", timeout=60)


@pytest.fixture(scope="module")
def api_schema(served: Served) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(served.base_url + "/openapi.json", timeout=30)


@pytest.fixture
def every_operation_reached(served: Served, api_schema: schemathesis.BaseSchema) -> Iterator[None]:
    """After the run: each operation answered at least once past auth, method routing and the
    rate limiter."""
    yield
    labels = [result.ok().label for result in api_schema.get_all_operations()]
    unreached = {label: sorted(served.statuses[label]) for label in labels
                 if not served.statuses[label] - NOT_REACHED}  # fmt: skip
    assert not unreached, f"operations never reached past auth (statuses seen): {unreached}"


def no_server_error(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """``not_a_server_error``, less the documented 5xx of ``DOCUMENTED_5XX``."""
    if response.status_code in DOCUMENTED_5XX.get(case.operation.label, set()):
        return None
    return not_a_server_error(ctx, response, case)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(
    case: schemathesis.Case, served: Served, every_operation_reached: None
) -> None:
    try:
        response = case.call(
            base_url=served.base_url, headers=dict(served.headers), timeout=REQUEST_TIMEOUT_S
        )
        served.statuses[case.operation.label].add(response.status_code)
        case.validate_response(response, checks=[no_server_error, response_schema_conformance])
    except Exception:
        print(served.tails())  # the server side of the failure
        raise
