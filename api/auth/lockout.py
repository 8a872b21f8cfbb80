"""Lockout after repeated failures: bad passwords per username and per client address, bad API
keys per client address. Counted in Redis, so every API replica sees the same count.

A failure increments a counter that lives ``window_s``; the ``max_failures``-th failure inside
the window replaces it by a lock that lives ``lockout_s``. The per-address limit is higher than
the per-user one (many people may share an address), and a success clears only the username's
counter: one valid account must not reset an address that sprays guesses at others. While
locked, the scope is refused with 429 ``locked_out`` and ``Retry-After`` — even with the right
password, or the lock would only slow an attacker who has already guessed right. Counting is
one Lua script, so concurrent failures cannot skip the lock.

Client addresses are the socket peer; deployments behind a proxy should have the proxy (or
uvicorn's ``--proxy-headers``) set it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from api.errors import LockedOut

_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
end
return n
"""


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int
    window_s: int
    lockout_s: int


class Lockout:
    def __init__(self, client: aioredis.Redis, prefix: str, policy: LockoutPolicy) -> None:
        self._redis, self._prefix, self.policy = client, prefix, policy
        self._fail = client.register_script(_FAIL)

    def _keys(self, scope: str) -> tuple[str, str]:
        return f"{self._prefix}fail:{scope}", f"{self._prefix}lock:{scope}"

    def lock_key(self, scope: str) -> str:
        """The Redis key set while ``scope`` is locked (the rate-limit script checks it too)."""
        return self._keys(scope)[1]

    async def check(self, *scopes: str) -> None:
        """Raise ``LockedOut`` if any scope (``user:alice``, ``ip:10.0.0.1``) is locked."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for scope in scopes:
                pipe.pttl(self._keys(scope)[1])
            ttls = await pipe.execute()
        locked = [(scope, ttl) for scope, ttl in zip(scopes, ttls, strict=True) if ttl and ttl > 0]
        if locked:
            retry = math.ceil(max(ttl for _, ttl in locked) / 1000)
            raise LockedOut(
                "too many failed attempts; try again later",
                retry_after_s=retry,
                details={"locked": [scope for scope, _ in locked]},
            )

    async def failed(self, *scopes: str) -> None:
        p = self.policy
        for scope in scopes:
            await self._fail(
                keys=list(self._keys(scope)), args=[p.window_s, p.max_failures, p.lockout_s]
            )

    async def succeeded(self, *scopes: str) -> None:
        await self._redis.delete(*(self._keys(scope)[0] for scope in scopes))
