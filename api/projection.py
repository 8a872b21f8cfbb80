"""Reads of the Redis projection (``streams.projection`` writes it): current state and lists.

The API never writes these keys. A state is the JSON snapshot of the fold, turned back into the
aggregate's state dataclass; lists are the projection's sorted sets by owner and by time, newest
first. Every call is bounded by the Redis client's socket timeout (a down Redis is a 503 in the
one error handler).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from redis.asyncio import Redis

from api.auth.principal import prefetched, resources_of
from api.ratelimit import Read
from schemas.catalog import aggregate_named
from schemas.snapshot import from_json
from streams.projection import ProjectionKeys

# the farthest a list page may start (the routes' ``offset`` bound): far past any real list, and
# with the page's end inside the signed 64-bit range Redis takes (past it ZREVRANGE is an error)
MAX_OFFSET = 1_000_000_000
FIELDS = ("kind", "state")  # of a stream's projection hash that a state read needs


class ProjectionReader:
    def __init__(self, redis: Redis, keys: ProjectionKeys) -> None:
        self._redis, self._keys = redis, keys

    async def get(self, stream_id: str, kind: str) -> Any | None:
        """The state of ``stream_id`` if it is projected and of ``kind``, else ``None``."""
        row: list[bytes | str | None] = await self._redis.hmget(self.read(stream_id).key, *FIELDS)
        return state_of(row, kind)

    def read(self, stream_id: str) -> Read:
        """The read of ``get``, to hand to the rate-limit script (``api.ratelimit``)."""
        return Read(self._keys.stream(stream_id), FIELDS)

    async def ids(self, kind: str, owner: str | None, offset: int, limit: int) -> list[str]:
        """Ids of ``kind`` (all, or ``owner``'s), newest first."""
        key = self._keys.owner(owner, kind) if owner else self._keys.by_time(kind)
        members = await self._redis.zrevrange(key, offset, offset + limit - 1)
        return [_text(m) for m in members if isinstance(m, bytes | str)]

    async def many(self, ids: list[str], kind: str) -> list[Any]:
        """The states of ``ids`` (in order), skipping any no longer projected."""
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream_id in ids:
                pipe.hmget(self._keys.stream(stream_id), "kind", "state")
            rows = await pipe.execute()
        cls = type(aggregate_named(kind).initial())
        return [
            from_json(cls, state)
            for found, state in rows
            if found is not None and state is not None and _text(found) == kind
        ]

    async def count(self, kind: str) -> int:
        return int(await self._redis.zcard(self._keys.by_time(kind)))


def path_read(param: str) -> Callable[[Request], Read]:
    """For ``require(permission, read)``: the projection entry of the stream named by the path
    parameter ``param``, read with the rate-limit decision (see ``api.ratelimit``)."""

    def read(request: Request) -> Read:
        resources = resources_of(request)
        stream_id = str(request.path_params[param])
        return ProjectionReader(resources.redis, resources.projection_keys).read(stream_id)

    return read


async def state_for(request: Request, stream_id: str, kind: str) -> Any | None:
    """``ProjectionReader.get`` for the request's route, from the row its ``path_read`` already
    read when it has one."""
    row = prefetched(request)
    if row is not None:
        return state_of(row, kind)
    resources = resources_of(request)
    return await ProjectionReader(resources.redis, resources.projection_keys).get(stream_id, kind)


def state_of(row: Sequence[bytes | str | None], kind: str) -> Any | None:
    """The state in a ``FIELDS`` row of the projection, if there is one of ``kind``."""
    found_kind, state = row
    if found_kind is None or state is None or _text(found_kind) != kind:
        return None
    return from_json(type(aggregate_named(kind).initial()), state)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
