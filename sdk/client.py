"""The synchronous client: ``Client(base_url, auth=...)`` over an ``httpx.Client`` (passed in
or made).

Every call goes through ``_send``: credentials (refreshing a stale JWT pair first, and once more
on a ``401``), retries on ``429``/``503`` honouring ``Retry-After`` (``sdk.retry``), and errors
raised as the typed tree of ``sdk.errors``. ``follow`` reads a server-sent event stream and, when
the connection drops, reconnects with ``Last-Event-ID`` set to the last id seen, so the caller
sees every event once, in order. The async twin is ``sdk.async_client``; both share ``sdk.calls``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from sdk import calls, sse
from sdk import models as m
from sdk.auth import ApiKeyAuth, Auth, Tokens
from sdk.errors import (
    ApiError,
    NotAuthenticated,
    NotFound,
    StreamFailed,
    StreamLost,
    TransportError,
    error_from,
)
from sdk.retry import RetryPolicy

T = TypeVar("T")
TokenSink = Callable[[Tokens], None]


class Client:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        auth: Auth | None = None,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        on_tokens: TokenSink | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.Client(
            base_url=self.base_url, transport=transport, timeout=httpx.Timeout(timeout, read=None)
        )
        self.auth, self.retry, self.on_tokens, self._sleep = (
            auth,
            retry or RetryPolicy(),
            on_tokens,
            sleep,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- auth ------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> Tokens:
        """Exchange a password for a JWT pair; the client uses (and refreshes) it from now on."""
        return self._take(Tokens.from_body(self.send(calls.login(username, password))))

    def refresh(self) -> Tokens:
        if not isinstance(self.auth, Tokens):
            raise NotAuthenticated(401, "no_refresh_token", "not logged in with a password")
        return self._take(Tokens.from_body(self.send(calls.refresh(self.auth.refresh_token))))

    def _take(self, tokens: Tokens) -> Tokens:
        self.auth = tokens
        if self.on_tokens is not None:
            self.on_tokens(tokens)
        return tokens

    def _headers(self, call: calls.Call[Any]) -> dict[str, str]:
        if not call.authenticated or self.auth is None:
            return {}
        if isinstance(self.auth, Tokens) and self.auth.stale() and self.auth.refreshable():
            self.refresh()
        return self.auth.headers()

    # -- sending ---------------------------------------------------------------------------
    def send(self, call: calls.Call[T]) -> T:
        response = self._send(call, {}, stream=False)
        return call.parse(response)

    def _send(
        self, call: calls.Call[Any], extra: dict[str, str], *, stream: bool
    ) -> httpx.Response:
        refreshed, attempt = False, 0
        while True:
            request = self._http.build_request(
                call.method,
                self.base_url + call.path,
                json=call.json,
                params=call.params or None,
                headers={**self._headers(call), **extra},
            )
            try:
                response = self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                wait = self.retry.delay(attempt, None)
                if wait is None:
                    raise TransportError(
                        f"cannot reach the API: {exc}", url=str(request.url)
                    ) from exc
                self._sleep(wait)
                attempt += 1
                continue
            if response.is_success:
                return response
            response.read()
            response.close()
            error = error_from(response)
            if not refreshed and refreshes_on(error, self.auth, call):
                refreshed = True
                self.refresh()
                continue
            wait = self.retry.delay(attempt, error.retry_after_s)
            if response.status_code not in self.retry.statuses or wait is None:
                raise error
            self._sleep(wait)
            attempt += 1

    @contextmanager
    def _stream(self, call: calls.Call[Any], extra: dict[str, str]) -> Iterator[httpx.Response]:
        response = self._send(call, extra, stream=True)
        try:
            yield response
        finally:
            response.close()

    def follow(
        self,
        path: str,
        *,
        last_event_id: str | None = None,
        until: Callable[[m.ServerEvent], bool] = lambda _: False,
    ) -> Iterator[m.ServerEvent]:
        """The events of a resumable SSE stream (``GET path``), surviving dropped connections.

        Ends when the server ends the stream after an event for which ``until`` is true, or when
        the server ends it cleanly and ``until`` never fired — after trying to resume, since a
        proxy may close an idle stream.
        """
        failures = 0
        call = calls.Call("GET", path, lambda r: None)
        while True:
            extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
            try:
                with self._stream(call, extra) as response:
                    for event in sse.parse(response.iter_lines()):
                        last_event_id, failures = event.id or last_event_id, 0
                        yield event
                        if until(event):
                            return
            except (httpx.TransportError, TransportError):
                pass
            wait = self.retry.reconnect_delay(failures)
            if wait is None:
                raise StreamLost(self.base_url + path, last_event_id, failures)
            self._sleep(wait)
            failures += 1

    # -- training --------------------------------------------------------------------------
    def create_job(self, **body: Any) -> m.Accepted:
        """Submit a training job (``preset``, ``max_steps``, ``model_id``, ``hyperparameters``)."""
        return self.send(calls.create_job(**body))

    def list_jobs(self, **filters: Any) -> m.JobPage:
        return self.send(calls.list_jobs(**filters))

    def get_job(self, job_id: str) -> m.Job:
        return self.send(calls.get_job(job_id))

    def stop_job(self, job_id: str) -> m.Accepted:
        return self.send(calls.control_job(job_id, "stop"))

    def pause_job(self, job_id: str) -> m.Accepted:
        return self.send(calls.control_job(job_id, "pause"))

    def resume_job(self, job_id: str) -> m.Accepted:
        return self.send(calls.control_job(job_id, "resume"))

    def job_metrics(self, job_id: str) -> m.JobMetrics:
        return self.send(calls.job_metrics(job_id))

    def wait_for_job(self, job_id: str, within_s: float = 30.0) -> m.Job:
        """The job once the projection has it: a ``202`` means in Kafka, not yet folded."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                return self.get_job(job_id)
            except NotFound:
                if time.monotonic() >= deadline:
                    raise
                self._sleep(0.25)

    def follow_job(self, job_id: str, last_event_id: str | None = None) -> Iterator[m.ServerEvent]:
        """The job's events from the start (or after ``last_event_id``) to its terminal event."""
        self.wait_for_job(job_id)
        terminal = m.TERMINAL_EVENTS
        yield from self.follow(calls.job_logs_path(job_id), last_event_id=last_event_id,
                               until=lambda e: e.event in terminal)  # fmt: skip

    def job_history(self, job_id: str) -> Iterator[m.ServerEvent]:
        """The job's stored events up to now (the store replays them; nothing live is awaited)."""
        version = self.get_job(job_id).version
        if version == 0:
            return iter(())
        return self.follow(calls.job_logs_path(job_id),
                           until=lambda e: (e.seq or 0) >= version
                           or e.event in m.TERMINAL_EVENTS)  # fmt: skip

    # -- models ----------------------------------------------------------------------------
    def list_models(self, **filters: Any) -> m.ModelPage:
        return self.send(calls.list_models(**filters))

    def create_model(self, **body: Any) -> m.Accepted:
        return self.send(calls.create_model(**body))

    def get_model(self, model_id: str) -> m.Model:
        return self.send(calls.get_model(model_id))

    def model_status(self, model_id: str) -> m.ModelStatus:
        return self.send(calls.model_status(model_id))

    def model_extensions(self, model_id: str) -> list[m.ModelExtension]:
        return self.send(calls.model_extensions(model_id))

    def configure_extension(self, model_id: str, name: str, **change: Any) -> m.Accepted:
        """``enabled=True/False`` and/or ``settings={...}``; applies from the next training."""
        return self.send(calls.configure_extension(model_id, name, **change))

    def load_model(self, model_id: str) -> m.Accepted:
        return self.send(calls.cache_model(model_id, "load"))

    def unload_model(self, model_id: str) -> m.Accepted:
        return self.send(calls.cache_model(model_id, "unload"))

    # -- keys and identity -----------------------------------------------------------------
    def me(self) -> m.Me:
        return self.send(calls.me())

    def create_key(self, name: str, role: str, tier: str = "standard") -> m.CreatedKey:
        return self.send(calls.create_key(name, role, tier))

    def list_keys(self) -> list[m.ApiKey]:
        return self.send(calls.list_keys())

    def revoke_key(self, key_id: str) -> None:
        self.send(calls.revoke_key(key_id))

    # -- inference -------------------------------------------------------------------------
    def generate(self, model: str, prompt: str, **sampling: Any) -> m.Generation:
        return self.send(calls.generate(model, prompt, **sampling))

    def chat(self, model: str, messages: list[dict[str, str]], **sampling: Any) -> m.ChatReply:
        return self.send(calls.chat(model, messages, **sampling))

    def stream_generate(self, model: str, prompt: str, **sampling: Any) -> Iterator[str]:
        """The generated text piece by piece as the model produces it."""
        return self._text(calls.generate(model, prompt, stream=True, **sampling))

    def stream_chat(
        self, model: str, messages: list[dict[str, str]], **sampling: Any
    ) -> Iterator[str]:
        return self._text(calls.chat(model, messages, stream=True, **sampling))

    def _text(self, call: calls.Call[Any]) -> Iterator[str]:
        with self._stream(call, {}) as response:
            for event in sse.parse(response.iter_lines()):
                yield from text_of(event)


def text_of(event: m.ServerEvent) -> list[str]:
    """The text an inference stream's frame carries; an ``error`` frame raises."""
    if event.event == "chunk":
        return [str(event.json().get("text", ""))]
    if event.event == "error":
        body = event.json()
        raise StreamFailed(
            str(body.get("error")), str(body.get("message")), body.get("details") or {}
        )
    return []


__all__ = ["ApiKeyAuth", "Client", "Tokens"]


def refreshes_on(error: ApiError, auth: Auth | None, call: calls.Call[Any]) -> bool:
    """A 401 on an authenticated call with a JWT pair: the access token may have just expired."""
    expired = error.code in {"invalid_token", "not_authenticated"}
    return error.status == 401 and isinstance(auth, Tokens) and call.authenticated and expired
