"""The one typed settings object of the platform.

Built once at start-up (``Settings()`` reads ``QLLM_*`` environment variables and an optional
``.env``) and passed explicitly to whatever needs it: no module reads the environment on import,
no default argument opens a connection.

Secrets are ``SecretStr`` so they never show up in a repr or a log line, and settings refuse the
placeholder values people copy from examples.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "admin", "test", ""}


def _default_home() -> Path:
    return Path.home() / ".cache" / "qllm"


class StackPorts(BaseModel):
    """Loopback ports of the local stack (``QLLM_PORTS__KAFKA=…``); the test command moves them
    all so a running dev stack is never touched."""

    kafka: int = Field(9092, ge=1, le=65535)
    kafka_controller: int = Field(9093, ge=1, le=65535)
    cassandra_cql: int = Field(9042, ge=1, le=65535)
    cassandra_storage: int = Field(7000, ge=1, le=65535)
    redis: int = Field(6390, ge=1, le=65535)


class Settings(BaseSettings):
    """Everything configurable, with the defaults of a single-machine deployment."""

    model_config = SettingsConfigDict(
        env_prefix="QLLM_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    # where jars, virtual environments and other reusable downloads are cached
    home: Path = Field(default_factory=_default_home)
    # where the local stack keeps its data, logs and pid files
    stack_dir: Path = Path(".qllm/stack")
    ports: StackPorts = Field(default_factory=lambda: StackPorts())

    # service addresses; left unset they point at the local stack's ports
    kafka_bootstrap: str = ""
    cassandra_contact: str = ""
    cassandra_keyspace: str = "qllm"
    redis_url: str = ""
    topic_prefix: str = ""

    kafka_version: str = "4.1.1"
    cassandra_version: str = "5.0.8"
    kafka_heap: str = "1g"  # 512m ran out at ~17,000 partitions (a long-lived dev stack)
    cassandra_heap: str = "1G"
    ready_timeout_s: float = Field(180.0, gt=0)

    # uploaded training datasets (a local folder or an fsspec URL): the API writes, workers read
    data_root: str = ".qllm/datasets"

    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    # uvicorn worker processes of the API (compose.serve); each holds its own connections and
    # caches, and everything they share lives in Redis, Kafka and Cassandra
    api_workers: int = Field(1, ge=1)
    jwt_secret: SecretStr | None = None

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("QLLM_JWT_SECRET is a placeholder; set a real random secret")
        return value

    @model_validator(mode="after")
    def _local_stack_addresses(self) -> Settings:
        if not self.kafka_bootstrap:
            self.kafka_bootstrap = f"127.0.0.1:{self.ports.kafka}"
        if not self.cassandra_contact:
            self.cassandra_contact = f"127.0.0.1:{self.ports.cassandra_cql}"
        if not self.redis_url:
            self.redis_url = f"redis://127.0.0.1:{self.ports.redis}/0"
        return self

    def topic(self, name: str) -> str:
        """The configured name of a topic from DESIGN.md's table (``qllm.events.jobs`` …)."""
        return f"{self.topic_prefix}{name}"
