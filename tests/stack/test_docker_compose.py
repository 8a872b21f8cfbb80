"""compose/docker-compose.yml: no Docker engine here, so its structure is checked instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compose.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"
SERVERS = {"kafka", "cassandra", "redis"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_it_runs_the_three_servers_and_the_api(spec: dict) -> None:
    assert SERVERS | {"api"} <= set(spec["services"])


def test_every_service_has_a_health_check(spec: dict) -> None:
    for name, service in spec["services"].items():
        check = service.get("healthcheck", {})
        assert check.get("test"), f"{name} has no health check"
        assert check.get("retries", 0) >= 3, f"{name} gives up too soon"


def test_servers_are_pinned_to_the_versions_the_local_launcher_runs(spec: dict) -> None:
    settings = Settings()
    images = {name: spec["services"][name]["image"] for name in SERVERS}
    assert images["kafka"] == f"apache/kafka:{settings.kafka_version}"
    assert images["cassandra"] == f"cassandra:{settings.cassandra_version}"
    assert images["redis"].startswith("redis:7")


def test_service_processes_wait_for_healthy_servers_and_point_at_them(spec: dict) -> None:
    for name, service in spec["services"].items():
        if name in SERVERS:
            continue
        depends = service["depends_on"]
        assert {d: depends[d]["condition"] for d in SERVERS} == dict.fromkeys(
            SERVERS, "service_healthy"
        )
        env = service["environment"]
        assert env["QLLM_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["QLLM_CASSANDRA_CONTACT"] == "cassandra:9042"
        assert env["QLLM_REDIS_URL"].startswith("redis://redis:6379")


def test_published_ports_match_the_servers_default_ports(spec: dict) -> None:
    ports = {name: spec["services"][name]["ports"][0] for name in SERVERS | {"api"}}
    assert ports == {"kafka": "9092:9092", "cassandra": "9042:9042", "redis": "6379:6379",
                     "api": "8000:8000"}  # fmt: skip


def test_the_image_build_context_holds_the_dockerfile(spec: dict) -> None:
    build = spec["services"]["api"]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert (context / build["dockerfile"]).is_file()
