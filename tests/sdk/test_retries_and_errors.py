"""Retries and the error tree, specified against a transport handed in (no service needed): the
rules are the client's, and a fake transport can answer 429/503 on demand."""

from __future__ import annotations

import json

import httpx
import pytest

from sdk import Client, RetryPolicy
from sdk.errors import ApiError, NotFound, RateLimited, ServiceUnavailable, ValidationFailed


def _client(answers: list[httpx.Response], slept: list[float], seen: list[httpx.Request]) -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return Client("http://qllm.test", transport=httpx.MockTransport(handler),
                  retry=RetryPolicy(attempts=4, max_wait_s=10), sleep=slept.append)  # fmt: skip


def _error(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    body = {"error": code, "message": f"{code} happened", "details": {"service": "kafka"},
            "request_id": "req-1"}  # fmt: skip
    return httpx.Response(status, json=body, headers=headers)


def test_503_is_retried_after_the_servers_retry_after() -> None:
    slept: list[float] = []
    seen: list[httpx.Request] = []
    job = {"job_id": "job-1", "version": 1, "status": "PENDING", "owner": "a", "model_id": "m",
           "preset": "tiny", "max_steps": 3}  # fmt: skip
    answers = [_error(503, "service_unavailable", "2"), _error(429, "rate_limited", "1"),
               httpx.Response(200, json=job)]  # fmt: skip
    with _client(answers, slept, seen) as qllm:
        assert qllm.get_job("job-1").status == "PENDING"
    assert slept == [2.0, 1.0]
    assert len(seen) == 3


def test_a_retry_after_beyond_the_wait_limit_is_raised_not_waited() -> None:
    slept: list[float] = []
    with (
        _client([_error(429, "locked_out", "900")], slept, []) as qllm,
        pytest.raises(RateLimited) as raised,
    ):
        qllm.me()
    assert (raised.value.code, raised.value.retry_after_s, slept) == ("locked_out", 900.0, [])


def test_retries_stop_after_the_attempt_budget_with_the_last_error() -> None:
    slept: list[float] = []
    answers = [_error(503, "service_unavailable", "0") for _ in range(4)]
    with _client(answers, slept, []) as qllm, pytest.raises(ServiceUnavailable) as raised:
        qllm.list_models()
    assert raised.value.details == {"service": "kafka"} and len(slept) == 3


def test_other_errors_are_not_retried_and_carry_the_body() -> None:
    slept: list[float] = []
    with _client([_error(404, "not_found")], slept, []) as qllm, pytest.raises(NotFound) as raised:
        qllm.get_job("job-x")
    error = raised.value
    assert isinstance(error, ApiError) and slept == []
    assert (error.status, error.code, error.request_id) == (404, "not_found", "req-1")


def test_openai_shaped_errors_are_read_too() -> None:
    body = {"error": {"message": "bad model", "type": "invalid_request_error", "param": "model",
                      "code": "validation_error"}}  # fmt: skip
    with (
        _client([httpx.Response(422, content=json.dumps(body))], [], []) as qllm,
        pytest.raises(ValidationFailed) as raised,
    ):
        qllm.generate("m", "x")
    assert (raised.value.code, raised.value.message) == ("validation_error", "bad model")
