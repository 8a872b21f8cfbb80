"""Rate limits per API key or user and tier: GCRA in one atomic Lua script in Redis.

GCRA (the generic cell rate algorithm) keeps one number per caller, the theoretical arrival time
(TAT); a tier of ``limit`` requests per ``window_s`` spaces requests ``window_s / limit`` apart and
tolerates a burst of ``limit``. It is exact (no fixed-window double bursts), O(1) in memory, and
uses Redis's clock (``TIME``) so replicas with skewed clocks agree.

Every limited response carries the IETF ``RateLimit-Policy`` / ``RateLimit`` header fields
(draft-ietf-httpapi-ratelimit-headers: ``"<tier>";q=<quota>;w=<window s>`` and
``"<tier>";r=<remaining>;t=<seconds until the quota is whole again>``); a refused one is 429 with
``Retry-After`` (seconds until the next request would pass).

The same script first checks any lock keys it is handed (the bad-API-key lockout of the caller's
address, ``api.auth.lockout``): an authenticated request costs one Redis round trip, not a
lockout read plus a GCRA call. A locked caller is refused before it is counted.

A route may also hand the script one hash to read (``Read``: the Redis projection's entry of the
resource in its path) and get the fields back with the decision, read only when the request is
allowed: the hottest read, ``GET`` of a job's status, is then one round trip instead of two. Every
await that suspends a request resumes through the whole middleware and dependency stack, so a
second round trip cost ~40 % of that request's CPU (``tests/benchmarks/api.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from api.config import RateTier
from api.errors import LockedOut, TooManyRequests

_GCRA = """
local locks = tonumber(ARGV[3])
for i = 2, 1 + locks do
  local locked = redis.call('PTTL', KEYS[i])
  if locked > 0 then return {-1, i, tostring(locked), '0'} end
end
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, tostring(allow_at - now), tostring(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
local remaining = math.floor((now - allow_at) / emission + 1e-9)
local result = {1, remaining, '0', tostring(new_tat - now)}
if #KEYS > 1 + locks then
  local row = redis.call('HMGET', KEYS[#KEYS], unpack(ARGV, 4))
  for i = 1, #row do result[4 + i] = row[i] end
end
return result
"""


@dataclass(frozen=True)
class Read:
    """A hash to read with the rate-limit decision: ``HMGET key *fields``."""

    key: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    tier: str
    quota: int
    window_s: float
    remaining: int
    retry_after_s: int
    reset_s: int
    read: tuple[bytes | None, ...] = ()  # the fields of the ``Read``, when one was asked for

    def headers(self) -> dict[str, str]:
        window = f"{self.window_s:g}"
        return {
            "RateLimit-Policy": f'"{self.tier}";q={self.quota};w={window}',
            "RateLimit": f'"{self.tier}";r={self.remaining};t={self.reset_s}',
        }


class RateLimiter:
    def __init__(self, client: aioredis.Redis, prefix: str, tiers: dict[str, RateTier]) -> None:
        self._prefix, self._tiers = prefix, tiers
        self._script = client.register_script(_GCRA)

    async def hit(
        self, caller: str, tier_name: str, locks: tuple[str, ...] = (), read: Read | None = None
    ) -> Decision:
        """Count a request unless one of the ``locks`` keys is set (then ``LockedOut``); read
        ``read`` in the same round trip if the request is allowed."""
        tier = self._tiers[tier_name]
        emission_ms = tier.window_s * 1000 / tier.limit
        key = f"{self._prefix}rl:{tier_name}:{caller}"
        keys: list[str] = [key, *locks]
        fields: tuple[str, ...] = ()
        if read is not None:
            keys, fields = [*keys, read.key], read.fields
        args = [repr(emission_ms), repr(emission_ms * tier.limit), str(len(locks)), *fields]
        allowed, remaining, retry_ms, reset_ms, *row = await self._script(keys=keys, args=args)
        if int(allowed) < 0:
            raise LockedOut(
                "too many failed attempts; try again later",
                retry_after_s=max(math.ceil(float(retry_ms) / 1000), 1),
                details={"locked": [locks[int(remaining) - 2].rpartition("lock:")[2]]},
            )
        return Decision(
            bool(allowed),
            tier_name,
            tier.limit,
            tier.window_s,
            int(remaining),
            math.ceil(float(retry_ms) / 1000),
            math.ceil(float(reset_ms) / 1000),
            tuple(row),
        )

    async def enforce(
        self, caller: str, tier_name: str, locks: tuple[str, ...] = (), read: Read | None = None
    ) -> Decision:
        """Count a request; raise 429 (with all headers) when the caller is over its tier, or
        ``LockedOut`` (429) when one of ``locks`` is set."""
        decision = await self.hit(caller, tier_name, locks, read)
        if not decision.allowed:
            raise TooManyRequests(
                f"rate limit of tier {tier_name!r} exceeded",
                retry_after_s=max(decision.retry_after_s, 1),
                headers=decision.headers(),
                details={"tier": tier_name, "caller": caller},
            )
        return decision
