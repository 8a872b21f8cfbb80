"""The settings object: derived addresses, overrides, and refusal of placeholder secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from compose.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QLLM_KAFKA_BOOTSTRAP", "QLLM_CASSANDRA_CONTACT", "QLLM_REDIS_URL",
                 "QLLM_PORTS__KAFKA", "QLLM_PORTS__CASSANDRA_CQL", "QLLM_PORTS__REDIS",
                 "QLLM_JWT_SECRET"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_addresses_follow_the_stack_ports_when_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLLM_PORTS__KAFKA", "19092")
    monkeypatch.setenv("QLLM_PORTS__REDIS", "16390")
    settings = Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.redis_url == "redis://127.0.0.1:16390/0"
    assert settings.cassandra_contact == "127.0.0.1:9042"


def test_an_explicit_address_wins_over_the_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLLM_PORTS__KAFKA", "19092")
    monkeypatch.setenv("QLLM_KAFKA_BOOTSTRAP", "kafka.internal:9092")
    assert Settings().kafka_bootstrap == "kafka.internal:9092"


@pytest.mark.parametrize("placeholder", ["changeme", "secret", "  Password ", ""])
def test_placeholder_jwt_secrets_are_refused(
    monkeypatch: pytest.MonkeyPatch, placeholder: str
) -> None:
    monkeypatch.setenv("QLLM_JWT_SECRET", placeholder)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_a_secret_never_shows_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLLM_JWT_SECRET", "9f2c1e7d-real-random-value")
    settings = Settings()
    assert "9f2c1e7d" not in repr(settings)
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == "9f2c1e7d-real-random-value"


def test_ports_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLLM_PORTS__KAFKA", "70000")
    with pytest.raises(ValidationError, match="kafka"):
        Settings()


def test_topic_names_take_the_configured_prefix() -> None:
    assert Settings(topic_prefix="staging.").topic("qllm.events.jobs") == "staging.qllm.events.jobs"
