"""Settings of the API layer that the platform-wide ``compose.settings.Settings`` does not hold.

Built once from ``QLLM_API_*`` environment variables (``ApiConfig()``) and passed explicitly into
``create_app``; nothing here reads the environment at import. The JWT signing secret stays in the
platform settings (``QLLM_JWT_SECRET``), and so does the dataset root the training workers read
too (``QLLM_DATA_ROOT``; ``QLLM_API_DATA_ROOT`` still overrides it for the API); this class holds
the first admin, token lifetimes, rate tiers, the body size limit, the lockout policy and the
bounded timeouts towards Redis/Cassandra.

Rate tiers are nested: ``QLLM_API_RATE_TIERS='{"basic": {"limit": 60, "window_s": 60}}'``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from compose.settings import Settings

_PLACEHOLDERS = {"changeme", "change-me", "secret", "password", "admin", "test", "admin123"}
MIN_ADMIN_PASSWORD = 12


class RateTier(BaseModel):
    """``limit`` requests per ``window_s`` seconds, with a burst of up to ``limit`` at once."""

    model_config = {"frozen": True}

    limit: int = Field(gt=0)
    window_s: float = Field(gt=0)


def _default_tiers() -> dict[str, RateTier]:
    return {
        "basic": RateTier(limit=60, window_s=60),
        "standard": RateTier(limit=600, window_s=60),
        "premium": RateTier(limit=6000, window_s=60),
    }


class ApiConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QLLM_API_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    # the first admin, created once if absent; the password is never re-applied afterwards
    admin_username: str = "admin"
    admin_password: SecretStr | None = None

    access_ttl_s: int = Field(900, gt=0)
    refresh_ttl_s: int = Field(7 * 24 * 3600, gt=0)
    jwt_issuer: str = "qllm-platform"

    # users and API keys; empty means the platform keyspace (``Settings.cassandra_keyspace``)
    auth_keyspace: str = ""
    cassandra_replication: int = Field(1, ge=1)

    rate_tiers: dict[str, RateTier] = Field(default_factory=_default_tiers)
    user_rate_tier: str = "standard"

    max_body_bytes: int = Field(1024 * 1024, gt=0)

    # bad logins per username (and, more of them, per client address) inside the window lock
    # that username (address) for lockout_s
    login_max_failures: int = Field(5, gt=0)
    login_max_failures_per_ip: int = Field(20, gt=0)
    login_window_s: int = Field(300, gt=0)
    lockout_s: int = Field(900, gt=0)
    # bad API keys per client address inside login_window_s lock that address out of key auth
    api_key_max_failures: int = Field(20, gt=0)

    # every call to Redis or Cassandra is bounded by this; past it the API answers 503
    service_timeout_s: float = Field(2.0, gt=0)
    redis_prefix: str = "qllm:api:"
    log_level: str = "INFO"

    # resource routes: the publisher's connect and acknowledgement bound (past it: 503), the
    # bound on opening the event store, the dataset store (a local folder or an fsspec URL) and
    # its upload limit, and the signed, retried webhooks of training jobs
    kafka_timeout_s: float = Field(5.0, gt=0)
    event_store_timeout_s: float = Field(20.0, gt=0)
    data_root: str = Field(default_factory=lambda: Settings().data_root)  # QLLM_DATA_ROOT
    max_dataset_bytes: int = Field(64 * 1024 * 1024, gt=0)
    webhook_secret: SecretStr | None = None
    webhook_attempts: int = Field(5, ge=1)
    webhook_backoff_s: float = Field(1.0, gt=0)
    webhook_timeout_s: float = Field(5.0, gt=0)

    # inference routes: how long a request waits for its answer (also the deadline its command
    # carries, so the batcher stops computing it too; past it: 504), the cap on max_tokens, and
    # the bound on starting the results listener (past it: 503)
    inference_timeout_s: float = Field(60.0, gt=0)
    inference_max_tokens: int = Field(512, ge=1)
    results_start_timeout_s: float = Field(10.0, gt=0)

    @field_validator("admin_password")
    @classmethod
    def _refuse_weak_admin_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        secret = value.get_secret_value()
        if secret.strip().lower() in _PLACEHOLDERS or len(secret) < MIN_ADMIN_PASSWORD:
            raise ValueError(
                f"QLLM_API_ADMIN_PASSWORD is a placeholder or shorter than {MIN_ADMIN_PASSWORD}"
            )
        return value

    @model_validator(mode="after")
    def _user_tier_exists(self) -> ApiConfig:
        if self.user_rate_tier not in self.rate_tiers:
            raise ValueError(f"user_rate_tier {self.user_rate_tier!r} is not in rate_tiers")
        return self
