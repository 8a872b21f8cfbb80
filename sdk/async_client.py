"""The asynchronous client: ``AsyncClient``, the twin of ``sdk.client.Client`` over
``httpx.AsyncClient`` — the same calls (``sdk.calls``), retries, token refresh, typed errors and
SSE resume with ``Last-Event-ID``; see ``sdk.client`` for the rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx

from sdk import calls, sse
from sdk import models as m
from sdk.auth import Auth, Tokens
from sdk.client import TokenSink, refreshes_on, text_of
from sdk.errors import NotAuthenticated, NotFound, StreamLost, TransportError, error_from
from sdk.retry import RetryPolicy

T = TypeVar("T")


class AsyncClient:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        auth: Auth | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        on_tokens: TokenSink | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout, read=None)
        )
        self.auth, self.retry, self.on_tokens, self._sleep = (
            auth,
            retry or RetryPolicy(),
            on_tokens,
            sleep,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def login(self, username: str, password: str) -> Tokens:
        return self._take(Tokens.from_body(await self.send(calls.login(username, password))))

    async def refresh(self) -> Tokens:
        if not isinstance(self.auth, Tokens):
            raise NotAuthenticated(401, "no_refresh_token", "not logged in with a password")
        body = await self.send(calls.refresh(self.auth.refresh_token))
        return self._take(Tokens.from_body(body))

    def _take(self, tokens: Tokens) -> Tokens:
        self.auth = tokens
        if self.on_tokens is not None:
            self.on_tokens(tokens)
        return tokens

    async def _headers(self, call: calls.Call[Any]) -> dict[str, str]:
        if not call.authenticated or self.auth is None:
            return {}
        if isinstance(self.auth, Tokens) and self.auth.stale() and self.auth.refreshable():
            await self.refresh()
        return self.auth.headers()

    async def send(self, call: calls.Call[T]) -> T:
        return call.parse(await self._send(call, {}, stream=False))

    async def _send(
        self, call: calls.Call[Any], extra: dict[str, str], *, stream: bool
    ) -> httpx.Response:
        refreshed, attempt = False, 0
        while True:
            headers = {**await self._headers(call), **extra}
            request = self._http.build_request(
                call.method,
                self.base_url + call.path,
                json=call.json,
                params=call.params or None,
                headers=headers,
            )
            try:
                response = await self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                wait = self.retry.delay(attempt, None)
                if wait is None:
                    raise TransportError(
                        f"cannot reach the API: {exc}", url=str(request.url)
                    ) from exc
                await self._sleep(wait)
                attempt += 1
                continue
            if response.is_success:
                return response
            await response.aread()
            await response.aclose()
            error = error_from(response)
            if not refreshed and refreshes_on(error, self.auth, call):
                refreshed = True
                await self.refresh()
                continue
            wait = self.retry.delay(attempt, error.retry_after_s)
            if response.status_code not in self.retry.statuses or wait is None:
                raise error
            await self._sleep(wait)
            attempt += 1

    @asynccontextmanager
    async def _stream(
        self, call: calls.Call[Any], extra: dict[str, str]
    ) -> AsyncIterator[httpx.Response]:
        response = await self._send(call, extra, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    async def follow(
        self,
        path: str,
        *,
        last_event_id: str | None = None,
        until: Callable[[m.ServerEvent], bool] = lambda _: False,
    ) -> AsyncIterator[m.ServerEvent]:
        """See ``Client.follow``."""
        failures = 0
        call = calls.Call("GET", path, lambda r: None)
        while True:
            extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
            try:
                async with self._stream(call, extra) as response:
                    async for event in sse.aparse(response.aiter_lines()):
                        last_event_id, failures = event.id or last_event_id, 0
                        yield event
                        if until(event):
                            return
            except (httpx.TransportError, TransportError):
                pass
            wait = self.retry.reconnect_delay(failures)
            if wait is None:
                raise StreamLost(self.base_url + path, last_event_id, failures)
            await self._sleep(wait)
            failures += 1

    async def create_job(self, **body: Any) -> m.Accepted:
        return await self.send(calls.create_job(**body))

    async def list_jobs(self, **filters: Any) -> m.JobPage:
        return await self.send(calls.list_jobs(**filters))

    async def get_job(self, job_id: str) -> m.Job:
        return await self.send(calls.get_job(job_id))

    async def stop_job(self, job_id: str) -> m.Accepted:
        return await self.send(calls.control_job(job_id, "stop"))

    async def resume_job(self, job_id: str) -> m.Accepted:
        return await self.send(calls.control_job(job_id, "resume"))

    async def job_metrics(self, job_id: str) -> m.JobMetrics:
        return await self.send(calls.job_metrics(job_id))

    async def wait_for_job(self, job_id: str, within_s: float = 30.0) -> m.Job:
        """See ``Client.wait_for_job``."""
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            try:
                return await self.get_job(job_id)
            except NotFound:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                await self._sleep(0.25)

    async def follow_job(
        self, job_id: str, last_event_id: str | None = None
    ) -> AsyncIterator[m.ServerEvent]:
        await self.wait_for_job(job_id)
        path = calls.job_logs_path(job_id)
        async for event in self.follow(path, last_event_id=last_event_id,
                                       until=lambda e: e.event in m.TERMINAL_EVENTS):  # fmt: skip
            yield event

    async def list_models(self, **filters: Any) -> m.ModelPage:
        return await self.send(calls.list_models(**filters))

    async def get_model(self, model_id: str) -> m.Model:
        return await self.send(calls.get_model(model_id))

    async def model_extensions(self, model_id: str) -> list[m.ModelExtension]:
        return await self.send(calls.model_extensions(model_id))

    async def configure_extension(self, model_id: str, name: str, **change: Any) -> m.Accepted:
        return await self.send(calls.configure_extension(model_id, name, **change))

    async def me(self) -> m.Me:
        return await self.send(calls.me())

    async def generate(self, model: str, prompt: str, **sampling: Any) -> m.Generation:
        return await self.send(calls.generate(model, prompt, **sampling))

    async def stream_generate(self, model: str, prompt: str, **sampling: Any) -> AsyncIterator[str]:
        async with self._stream(calls.generate(model, prompt, stream=True, **sampling), {}) as r:
            async for event in sse.aparse(r.aiter_lines()):
                for text in text_of(event):
                    yield text
