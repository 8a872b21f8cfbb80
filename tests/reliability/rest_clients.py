"""Clients that submit training jobs over REST at a steady rate and record every answer.

Each lane is one client: ``POST /api/v1/training/jobs``, note the answer (status, ``Retry-After``,
the job id of a ``202``, when it was sent and how long it took), wait, again. A request the
client gave up on (no answer within ``timeout_s``) is recorded with status 0: it hung.

A keyed lane (``keyed_lanes``) is a careful client: every submission carries an
``Idempotency-Key``, and one not answered ``202`` is sent again with the same key until it is
(also after the clients are told to stop), so none of its jobs can be left in doubt.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.reliability.platform import Platform

JOB = {"preset": "tiny", "max_steps": 2}  # the default retry budget (2)


@dataclass(frozen=True)
class Answer:
    began: float  # time.monotonic() when sent
    took_s: float
    status: int  # 0: no answer within the client's timeout, or the connection failed
    job_id: str | None = None
    retry_after: str | None = None
    key: str | None = None  # the Idempotency-Key sent (keyed lanes)
    replayed: bool = False  # a 202 for a key whose earlier attempt had taken effect


@dataclass
class Submissions:
    answers: list[Answer] = field(default_factory=list)

    def accepted(self) -> list[str]:
        return [a.job_id for a in self.answers if a.status == 202 and a.job_id]

    def between(self, start: float, end: float) -> list[Answer]:
        """Answers to requests sent at or after ``start`` and answered before ``end``."""
        return [a for a in self.answers if a.began >= start and a.began + a.took_s <= end]

    def after(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.began >= moment]

    def keys(self) -> dict[str, list[Answer]]:
        """Every Idempotency-Key sent, with the answers to its attempts in order."""
        found: dict[str, list[Answer]] = {}
        for answer in self.answers:
            if answer.key is not None:
                found.setdefault(answer.key, []).append(answer)
        return found


class SubmittingClients:
    """``async with SubmittingClients(platform, lanes, interval_s) as c`` submits until the end."""

    def __init__(
        self, platform: Platform, lanes: int, interval_s: float, timeout_s: float,
        keyed_lanes: int = 0, settle_s: float = 90.0,
    ) -> None:  # fmt: skip
        self._platform, self._lanes, self._keyed = platform, lanes, keyed_lanes
        self._interval_s, self._timeout_s, self._settle_s = interval_s, timeout_s, settle_s
        self.submissions = Submissions()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> SubmittingClients:
        self._tasks = [asyncio.create_task(self._lane(n < self._keyed)) for n in range(self._lanes)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def until(self, check: object, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not check(self.submissions):  # type: ignore[operator]
            for task in self._tasks:
                if task.done():
                    task.result()
            if time.monotonic() > deadline:
                statuses = Counter(a.status for a in self.submissions.answers)
                raise TimeoutError(f"clients' condition not met in {timeout_s}s: {statuses}")
            await asyncio.sleep(0.1)

    async def _lane(self, keyed: bool) -> None:
        async with httpx.AsyncClient(
            base_url=self._platform.base_url, timeout=self._timeout_s,
            headers=self._platform.headers(),
        ) as http:  # fmt: skip
            key: str | None = None
            settled_by = float("inf")
            while not self._stop.is_set() or (key is not None and time.monotonic() < settled_by):
                if self._stop.is_set():
                    settled_by = min(settled_by, time.monotonic() + self._settle_s)
                if keyed and key is None:
                    key = uuid.uuid4().hex
                answer = await self._submit(http, key)
                self.submissions.answers.append(answer)
                if answer.status == 202:
                    key = None  # done: the next submission gets a new key
                await asyncio.sleep(self._interval_s)

    async def _submit(self, http: httpx.AsyncClient, key: str | None) -> Answer:
        began = time.monotonic()
        headers = {"Idempotency-Key": key} if key is not None else {}
        try:
            answer = await http.post("/api/v1/training/jobs", json=JOB, headers=headers)
        except httpx.HTTPError:
            return Answer(began, time.monotonic() - began, 0, key=key)
        took = time.monotonic() - began
        body = answer.json() if answer.status_code == 202 else {}
        retry_after = answer.headers.get("Retry-After")
        return Answer(began, took, answer.status_code, body.get("id"), retry_after, key,
                      bool(body.get("replayed")))  # fmt: skip
