"""The SDK against the running service: JWT login and refresh, typed errors, a training job
followed to the end through a dropped SSE connection (resumed with ``Last-Event-ID``: no gap, no
duplicate), and streamed generation through the async client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from sdk import ApiKeyAuth, AsyncClient, Client, Tokens
from sdk.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from tests.sdk.live import Live

pytestmark = pytest.mark.stack
MODEL = "preset:tiny"


class DroppingTransport(httpx.HTTPTransport):
    """The real transport, except that the first job-log stream is cut after ``frames`` frames."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames, self.log_requests = frames, list[httpx.Request]()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if not request.url.path.endswith("/logs"):
            return response
        self.log_requests.append(request)
        if len(self.log_requests) > 1:
            return response
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_cut(response, self.frames), request=request)  # fmt: skip


class _cut(httpx.SyncByteStream):
    def __init__(self, response: httpx.Response, frames: int) -> None:
        self.response, self.frames = response, frames

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self.response.stream:  # type: ignore[union-attr]
            yield chunk
            seen += chunk.count(b"\n\n")
            if seen >= self.frames:
                self.response.close()  # the connection goes away mid-stream
                raise httpx.ReadError("connection dropped by the test")

    def close(self) -> None:
        self.response.close()


def test_a_followed_job_survives_a_dropped_connection_without_gap_or_duplicate(live: Live) -> None:
    transport = DroppingTransport(frames=3)
    with Client(live.base_url, transport=transport) as qllm:
        qllm.login(*live.admin)
        job_id = qllm.create_job(preset="tiny", max_steps=4).resource_id
        events = list(qllm.follow_job(job_id))
        final = qllm.get_job(job_id)
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1)), seqs
    assert (events[0].event, events[-1].event, final.status) == (
        "JobSubmitted", "JobSucceeded", "SUCCEEDED")  # fmt: skip
    assert len(transport.log_requests) == 2
    resumed_at = transport.log_requests[1].headers["Last-Event-ID"]
    assert int(resumed_at) >= 3 and "Last-Event-ID" not in transport.log_requests[0].headers
    steps = [e.json()["step"] for e in events if e.event == "TrainingStepCompleted"]
    assert steps == [1, 2, 3, 4]
    with Client(live.base_url) as qllm:
        qllm.login(*live.admin)
        assert [e.seq for e in qllm.job_history(job_id)] == seqs


def test_a_stale_or_rejected_access_token_is_refreshed_and_handed_out(live: Live) -> None:
    handed: list[Tokens] = []
    with Client(live.base_url, on_tokens=handed.append) as qllm:
        first = qllm.login(*live.admin)
        qllm.auth = Tokens(
            "not-a-jwt", first.refresh_token, time.time() + 600, first.refresh_expires_at
        )
        assert qllm.me().subject == live.admin[0]  # 401, refreshed, sent again
        assert isinstance(qllm.auth, Tokens) and qllm.auth.refresh_token != first.refresh_token
        second = qllm.auth
        qllm.auth = Tokens(
            second.access_token, second.refresh_token, 0.0, second.refresh_expires_at
        )
        assert qllm.me().role == "admin"  # stale: refreshed before it is sent
    assert len(handed) == 3 and len({t.access_token for t in handed}) == 3


def test_api_errors_arrive_as_the_typed_tree(live: Live) -> None:
    with Client(live.base_url) as qllm:
        with pytest.raises(NotAuthenticated) as bad_login:
            qllm.login(live.admin[0], "wrong password")
        qllm.login(*live.admin)
        with pytest.raises(NotFound) as missing:
            qllm.get_job("job-does-not-exist")
        key = qllm.create_key("readonly-sdk", "readonly")
    assert bad_login.value.code == "invalid_credentials"
    assert missing.value.details == {"job_id": "job-does-not-exist"} and missing.value.request_id
    with Client(live.base_url, auth=ApiKeyAuth(key.api_key)) as reader:
        assert reader.me().role == "readonly"
        with pytest.raises(PermissionDenied) as denied:
            reader.create_job(preset="tiny", max_steps=1)
    assert denied.value.details["permission"] == "jobs:write"


async def test_the_async_client_streams_the_same_text_it_generates(live: Live) -> None:
    async with AsyncClient(live.base_url) as qllm:
        await qllm.login(*live.admin)
        whole = await qllm.generate(MODEL, "def add(a, b):", max_tokens=8, temperature=0)
        pieces = [p async for p in qllm.stream_generate(MODEL, "def add(a, b):", max_tokens=8,
                                                          temperature=0)]  # fmt: skip
        page = await qllm.list_models()
    assert len(pieces) >= 1 and "".join(pieces) == whole.text
    assert whole.usage.completion_tokens >= 1
    assert isinstance(page.items, list)


def test_a_models_extensions_are_configured_and_its_next_job_carries_them(live: Live) -> None:
    with Client(live.base_url) as qllm:
        qllm.login(*live.admin)
        model_id = f"sdk-ext-{time.time_ns()}"
        qllm.create_model(model_id=model_id)
        _until(lambda: _status(qllm, model_id) == "REGISTERED")
        with pytest.raises(ValidationFailed) as bad:
            qllm.configure_extension(model_id, "quantum", settings={"quantum_group": "abelian"})
        qllm.configure_extension(model_id, "quantum", enabled=True,
                                 settings={"quantum_group": "cyclic"})  # fmt: skip
        _until(lambda: qllm.get_model(model_id).enabled_extensions == ["quantum"])
        quantum = next(e for e in qllm.model_extensions(model_id) if e.name == "quantum")
        job_id = qllm.create_job(model_id=model_id, max_steps=2).resource_id
        _until(lambda: qllm.wait_for_job(job_id).finished, 180)
        job = qllm.get_job(job_id)
    assert bad.value.details["fields"][0]["field"] == "settings.quantum_group"
    assert quantum.enabled and quantum.settings == {"quantum_group": "cyclic"}
    assert job.status == "SUCCEEDED", job
    assert job.extensions == {"quantum": "True", "quantum_group": "cyclic"}


def _status(qllm: Client, model_id: str) -> str | None:
    try:
        return qllm.get_model(model_id).status
    except NotFound:  # a 202 means in Kafka: the model appears once the handler has run
        return None


def _until(check: Callable[[], bool], within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.3)
