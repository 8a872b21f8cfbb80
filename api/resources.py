"""What the API holds open: the Redis client, the auth store, and the services built on them.

Opened lazily, on the first request that needs them, so ``create_app`` does no I/O and the
system routes work while a dependency is down. A failed open is not cached: the next request
tries again (and answers 503 meanwhile). The app's lifespan calls ``aclose`` at shutdown.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis

from api.auth.bootstrap import ensure_first_admin
from api.auth.cassandra_store import CassandraAuthStore
from api.auth.lockout import Lockout, LockoutPolicy
from api.auth.store import AuthStore
from api.auth.tokens import TokenService
from api.config import ApiConfig
from api.ratelimit import RateLimiter
from compose.settings import Settings

log = logging.getLogger("qllm.api.resources")


class Resources:
    def __init__(
        self, settings: Settings, config: ApiConfig, auth_store: AuthStore | None = None
    ) -> None:
        self.settings, self.config = settings, config
        self.tokens = TokenService(
            settings.jwt_secret, config.jwt_issuer, config.access_ttl_s, config.refresh_ttl_s
        )
        timeout = config.service_timeout_s
        self.redis = aioredis.from_url(
            settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        prefix = config.redis_prefix
        window, lock = config.login_window_s, config.lockout_s
        self.user_lockout = Lockout(
            self.redis, f"{prefix}login:", LockoutPolicy(config.login_max_failures, window, lock)
        )
        self.ip_lockout = Lockout(
            self.redis,
            f"{prefix}login:",
            LockoutPolicy(config.login_max_failures_per_ip, window, lock),
        )
        self.key_lockout = Lockout(
            self.redis, f"{prefix}apikey:", LockoutPolicy(config.api_key_max_failures, window, lock)
        )
        self.rate_limiter = RateLimiter(self.redis, prefix, config.rate_tiers)
        self._store = auth_store
        self._owns_store = auth_store is None  # a store handed in is closed by whoever made it
        self._store_ready = False
        self._lock = asyncio.Lock()

    async def auth_store(self) -> AuthStore:
        """The store, opened (and the first admin ensured) on first use."""
        if self._store is not None and self._store_ready:
            return self._store
        async with self._lock:
            if self._store is None:
                keyspace = self.config.auth_keyspace or self.settings.cassandra_keyspace
                self._store = await CassandraAuthStore.open(
                    self.settings.cassandra_contact,
                    keyspace,
                    replication=self.config.cassandra_replication,
                    timeout_s=self.config.service_timeout_s,
                )
            if not self._store_ready:
                await ensure_first_admin(self._store, self.config)
                self._store_ready = True
        return self._store

    async def aclose(self) -> None:
        if self._store is not None and self._owns_store:
            await self._store.close()
            self._store = None
        await self.redis.aclose()
