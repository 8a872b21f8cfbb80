"""What the API holds open: the Redis client, the auth store, the Kafka publisher, the event store,
and the services built on them.

Opened lazily, on the first request that needs them, so ``create_app`` does no I/O and the
system routes work while a dependency is down. A failed open is not cached: the next request
tries again (and answers 503 meanwhile). The app's lifespan calls ``aclose`` at shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError

from api.auth.bootstrap import ensure_first_admin
from api.auth.cassandra_store import CassandraAuthStore
from api.auth.key_cache import KeyCache
from api.auth.lockout import Lockout, LockoutPolicy
from api.auth.store import AuthStore
from api.auth.tokens import TokenService
from api.config import ApiConfig
from api.errors import ServiceUnavailable
from api.ratelimit import RateLimiter
from api.results import ResultsListener
from compose.redis_clients import async_client
from compose.settings import Settings
from producers.errors import BrokerUnavailable
from producers.publisher import Publisher, PublisherOptions
from producers.topics import provision
from schemas.codec import default_codec
from streams.projection import ProjectionKeys
from streams.store.base import EventStore, StoreUnavailable
from streams.store.cassandra import CassandraEventStore, StoreOptions

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
        self.redis = async_client(
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
        self.key_cache = KeyCache()  # API key records, in-process (api.auth.key_cache)
        self._store = auth_store
        self._owns_store = auth_store is None  # a store handed in is closed by whoever made it
        self._store_ready = False
        self._lock = asyncio.Lock()
        self.projection_keys = ProjectionKeys.from_settings(settings)
        self._publisher: Publisher | None = None
        self._publisher_lock = asyncio.Lock()
        self._events: EventStore | None = None
        self._events_lock = asyncio.Lock()
        # inference: the one listener of the results topic (started on first use)
        self.results = ResultsListener(settings, default_codec(), config.results_start_timeout_s)

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

    async def publisher(self) -> Publisher:
        """The one Kafka publisher of the process (topics provisioned once, on first use); every
        wait bounded by ``kafka_timeout_s``, and a broker that does not answer is a 503."""
        if self._publisher is not None:
            return self._publisher
        async with self._publisher_lock:
            if self._publisher is None:
                bound = self.config.kafka_timeout_s
                options = PublisherOptions(connect_timeout_s=bound, ack_timeout_s=bound)
                publisher = Publisher(self.settings, options)
                try:
                    await asyncio.wait_for(provision(self.settings, timeout_s=bound), bound)
                    await publisher.start()
                except (TimeoutError, OSError, BrokerUnavailable, KafkaError) as exc:
                    raise ServiceUnavailable("kafka", repr(exc)) from exc
                self._publisher = publisher
        return self._publisher

    @property
    def publisher_open(self) -> bool:
        return self._publisher is not None

    async def event_store(self) -> EventStore:
        """The Cassandra event store (history reads), opened on first use within a bound."""
        if self._events is not None:
            return self._events
        async with self._events_lock:
            if self._events is None:
                options = StoreOptions.from_settings(self.settings)
                bound = self.config.event_store_timeout_s
                try:
                    self._events = await asyncio.wait_for(CassandraEventStore.open(options), bound)
                except (TimeoutError, StoreUnavailable) as exc:
                    raise ServiceUnavailable("cassandra", repr(exc)) from exc
        return self._events

    async def aclose(self) -> None:
        await self.results.aclose()
        if self._publisher is not None:
            await self._publisher.stop()
            self._publisher = None
        if isinstance(self._events, CassandraEventStore):
            await self._events.close()
            self._events = None
        if self._store is not None and self._owns_store:
            await self._store.close()
            self._store = None
        await self.redis.aclose()
