"""An in-process TTL cache of API key records (key id → record), in front of the auth store.

Why: every API-key request read its record from Cassandra (a driver round trip, threads and
callbacks) — the dominant cost of an authenticated request. Key records change only when a key
is revoked, so a few seconds of staleness is cheap to promise and removes the read.

The bound, documented and tested: a revocation takes effect on every replica within ``ttl_s``
(default ``DEFAULT_TTL_S`` = 5 s) of the store recording it; on the replica that revoked it,
at once (``forget``). Only found records are cached — an unknown key id costs a store read every
time and is counted by the bad-key lockout, so guessing cannot fill the cache. The cache holds at
most ``max_entries`` records (oldest dropped first). The secret is never cached: the SHA-256 of
the presented key is compared with the record's hash on every request.

Loads are single-flight: when a record expires under load, the requests that arrive while it is
being read again wait for that one read instead of each reading the store (at 1,000 requests/s a
5 ms read would otherwise be five concurrent reads of the same row, every ``ttl_s``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from api.auth.store import ApiKeyRecord

DEFAULT_TTL_S = 5.0


class KeyCache:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: OrderedDict[str, tuple[float, ApiKeyRecord]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[ApiKeyRecord | None]] = {}

    async def get(
        self, key_id: str, load: Callable[[str], Awaitable[ApiKeyRecord | None]]
    ) -> ApiKeyRecord | None:
        """The record of ``key_id``: cached while younger than ``ttl_s``, else ``load``ed."""
        entry = self._entries.get(key_id)
        now = time.monotonic()
        if entry is not None and now - entry[0] < self.ttl_s:
            return entry[1]
        loading = self._loading.get(key_id)
        if loading is not None:  # another request is reading it: share that read
            return await asyncio.shield(loading)
        loading = self._loading[key_id] = asyncio.ensure_future(load(key_id))
        loading.add_done_callback(lambda done: self._loaded(key_id, done))
        record = await asyncio.shield(loading)  # a cancelled caller leaves the read to the others
        if record is None:
            self._entries.pop(key_id, None)
            return None
        self._entries[key_id] = (now, record)
        self._entries.move_to_end(key_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return record

    def _loaded(self, key_id: str, done: asyncio.Future[ApiKeyRecord | None]) -> None:
        if self._loading.get(key_id) is done:
            del self._loading[key_id]
        if not done.cancelled():
            done.exception()  # retrieved here too: no "never retrieved" when every caller left

    def forget(self, key_id: str) -> None:
        """Drop ``key_id`` (this replica revoked it: no stale window here)."""
        self._entries.pop(key_id, None)
        self._loading.pop(key_id, None)  # a read in flight may predate the revocation
