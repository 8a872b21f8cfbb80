"""``/api/v1/inference`` and the OpenAI-compatible ``/v1`` routes against the real stack: a real
inference worker subprocess serving ``preset:tiny``, the API on uvicorn, and the official
``openai`` package, unmodified, as one of the clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from api.auth.cassandra_store import CassandraAuthStore
from api.config import ApiConfig
from tests.api.conftest import Api, MakeApi
from tests.api.live_stack import MODEL, LiveApi, admin_headers, live_settings, serving, spawn, stop
from tests.consumers.support import read_results

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def live(
    cassandra_store: CassandraAuthStore,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveApi]:
    settings = live_settings()
    folder = tmp_path_factory.mktemp("inference")
    worker = spawn(["-m", "consumers", "inference"], settings, folder, "inference")
    try:
        with serving(settings, cassandra_store) as base_url:
            yield LiveApi(base_url, settings, admin_headers(base_url))
    finally:
        stop(worker)
        print((Path(folder) / "inference.log").read_text()[-3000:])


@pytest.fixture(scope="module")
def user(live: LiveApi) -> dict[str, str]:
    return live.headers_for("user")


def _sse_events(text: str) -> list[tuple[str, str]]:
    events = []
    for frame in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], fields.get("data", "")))
    return events


def test_generate_answers_text_and_usage(live: LiveApi, user: dict[str, str]) -> None:
    body = {"model": MODEL, "prompt": "def add(a, b):", "max_tokens": 6, "temperature": 0}
    with live.client() as http:
        response = http.post("/api/v1/inference/generate", json=body, headers=user)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["model"] == MODEL and out["usage"]["completion_tokens"] >= 1
    assert (
        out["usage"]["total_tokens"]
        == out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"]
    )
    assert out["finish_reason"] in {"stop", "length"}


def test_greedy_generation_is_the_same_streamed_or_not(live: LiveApi, user: dict[str, str]) -> None:
    body = {"model": MODEL, "prompt": "import os", "max_tokens": 12, "temperature": 0}
    with live.client() as http:
        whole = http.post("/api/v1/inference/generate", json=body, headers=user).json()
        streamed = http.post("/api/v1/inference/generate", json={**body, "stream": True},
                             headers=user)  # fmt: skip
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(streamed.text)
    chunks = [json.loads(data)["text"] for kind, data in events if kind == "chunk"]
    done = [json.loads(data) for kind, data in events if kind == "done"]
    assert len(done) == 1 and events[-1][0] == "done"
    assert "".join(chunks) == done[0]["text"] == whole["text"]


def test_chat_batch_embeddings_similarity_and_capabilities(
    live: LiveApi, user: dict[str, str]
) -> None:
    with live.client() as http:
        chat = http.post(
            "/api/v1/inference/chat",
            headers=user,
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        )
        batch = http.post("/api/v1/inference/batch", headers=user, json={
            "model": MODEL, "prompts": ["a", "b", "c"], "max_tokens": 3})  # fmt: skip
        emb = http.post("/api/v1/inference/embeddings", headers=user, json={
            "model": MODEL, "texts": ["alpha", "beta gamma"]})  # fmt: skip
        sim = http.post("/api/v1/inference/similarity", headers=user, json={
            "model": MODEL, "text_a": "same text", "text_b": "same text"})  # fmt: skip
        caps = http.get(f"/api/v1/inference/models/{MODEL}/capabilities", headers=user)
    assert chat.status_code == 200, chat.text
    assert chat.json()["message"]["role"] == "assistant"
    assert batch.status_code == 200 and len(batch.json()["texts"]) == 3
    vectors = emb.json()["embeddings"]
    assert len(vectors) == 2 and len(vectors[0]) == emb.json()["dimensions"] > 0
    assert sim.json()["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert caps.status_code == 200
    assert caps.json()["context_length"] == 128 and "embeddings" in caps.json()["kinds"]


def test_unknown_model_is_404_and_bad_body_is_422_in_each_error_format(
    live: LiveApi, user: dict[str, str]
) -> None:
    with live.client() as http:
        ours = http.post("/api/v1/inference/generate", headers=user,
                         json={"model": "nope", "prompt": "x"})  # fmt: skip
        theirs = http.post("/v1/completions", headers=user, json={"model": "nope", "prompt": "x"})
        bad = http.post("/api/v1/inference/generate", headers=user,
                        json={"model": MODEL, "prompt": "x", "max_tokens": 0})  # fmt: skip
        bad_v1 = http.post("/v1/chat/completions", headers=user, json={"model": MODEL})
        too_many = http.post(
            "/api/v1/inference/generate",
            headers=user,
            json={"model": MODEL, "prompt": "x", "max_tokens": 100_000},
        )
    assert ours.status_code == 404 and ours.json()["error"] == "not_found"
    assert ours.json()["details"] == {"model_id": "nope"} and "request_id" in ours.json()
    assert theirs.status_code == 404 and theirs.json()["error"]["type"] == "invalid_request_error"
    assert bad.status_code == 422 and bad.json()["details"]["fields"][0]["field"] == "max_tokens"
    assert bad_v1.status_code == 422 and bad_v1.json()["error"]["param"] == "messages"
    assert too_many.status_code == 422 and "max_tokens" in too_many.json()["message"]


def test_openai_sdk_streams_a_chat_completion_and_creates_embeddings(live: LiveApi) -> None:
    client = openai.OpenAI(api_key=live.api_key("user"), base_url=f"{live.base_url}/v1")
    models = [m.id for m in client.models.list()]
    assert MODEL in models
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hi"}], max_tokens=8,
        temperature=0, stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in {"stop", "length"}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens >= 1
    whole = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hi"}], max_tokens=8, temperature=0
    )
    assert whole.choices[0].message.content == text
    embedded = client.embeddings.create(model=MODEL, input=["alpha", "beta"])
    assert len(embedded.data) == 2 and len(embedded.data[0].embedding) > 0
    as_floats = client.embeddings.create(model=MODEL, input="alpha", encoding_format="float")
    assert as_floats.data[0].embedding == pytest.approx(embedded.data[0].embedding, abs=1e-5)
    completion = client.completions.create(model=MODEL, prompt="x =", max_tokens=4, temperature=0)
    assert completion.choices[0].finish_reason in {"stop", "length"}


def test_openai_sdk_errors_carry_openai_shapes(live: LiveApi) -> None:
    client = openai.OpenAI(api_key=live.api_key("readonly"), base_url=f"{live.base_url}/v1")
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="qllm_0123456789abcdef_" + "x" * 43,
                      base_url=f"{live.base_url}/v1").models.list()  # fmt: skip
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("preset:nope")


async def test_client_disconnect_cancels_the_request_in_the_batcher(
    live: LiveApi, user: dict[str, str]
) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Go"}],
            "max_tokens": 100, "temperature": 1.0, "stream": True}  # fmt: skip
    async with (
        httpx.AsyncClient(base_url=live.base_url, timeout=60) as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers=user) as resp,
    ):
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: {"):
                request_id = json.loads(line[6:])["id"].removeprefix("chatcmpl-")
                break
        # the block left early: the connection is closed with the answer half-sent

    def cancelled(results: list[tuple[object, str]]) -> bool:
        return any(getattr(r, "stream_id", "") == request_id and r.type == "InferenceFailed"
                   for r, _ in results)  # type: ignore[attr-defined]  # fmt: skip

    started = time.monotonic()
    results = await read_results(live.settings, cancelled, 60)
    failed = [r for r, _ in results if r.stream_id == request_id and r.type == "InferenceFailed"]
    assert failed[0].reason == "cancelled"  # type: ignore[attr-defined]
    completed = [
        r for r, _ in results if r.stream_id == request_id and r.type == "InferenceCompleted"
    ]
    assert completed == [] and time.monotonic() - started < 60
    await asyncio.sleep(0)


async def test_an_empty_openai_batch_is_422_not_a_wait_for_an_answer_that_never_comes(
    api: Api,
) -> None:
    # found by schemathesis: ``prompt: []`` became a batch without texts, which the worker
    # dead-letters, so the caller waited out the whole deadline for a 504
    admin = await api.as_admin()
    empty = [("/v1/completions", {"model": MODEL, "prompt": []}, "prompt"),
             ("/v1/embeddings", {"model": MODEL, "input": []}, "input")]  # fmt: skip
    for path, body, field in empty:
        response = await api.client.post(path, json=body, headers=admin)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["param"].startswith(field), response.text


async def test_embeddings_and_similarity_are_not_refused_for_tokens_they_never_generate(
    make_api: MakeApi, api_config: ApiConfig
) -> None:
    # found by schemathesis: the max_tokens cap took 64 for a request without max_tokens, so with
    # a cap under 64 every embeddings and similarity request was a 422
    config = api_config.model_copy(update={"inference_max_tokens": 8, "inference_timeout_s": 0.1})
    api = await make_api(config=config)
    admin = await api.as_admin()
    for path, body in [
        ("/api/v1/inference/embeddings", {"model": MODEL, "texts": ["alpha"]}),
        ("/api/v1/inference/similarity", {"model": MODEL, "text_a": "a", "text_b": "b"}),
        ("/v1/embeddings", {"model": MODEL, "input": "alpha"}),
    ]:
        response = await api.client.post(path, json=body, headers=admin)
        assert response.status_code == 504, (path, response.text)  # past the cap; no worker here
    nine = {"model": MODEL, "prompt": "x", "max_tokens": 9}
    too_many = await api.client.post("/api/v1/inference/generate", json=nine, headers=admin)
    assert too_many.status_code == 422 and "max_tokens" in too_many.json()["message"]
