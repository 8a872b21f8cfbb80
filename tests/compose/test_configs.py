"""The configs the launcher writes, checked without starting anything."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from compose import jars
from compose.cassandra import cassandra_yaml
from compose.kafka import cluster_id, server_properties


def test_cluster_ids_are_16_random_bytes_in_url_safe_base64() -> None:
    ids = {cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert len(value) == 22 and not value.startswith("-")
        assert len(base64.urlsafe_b64decode(value + "==")) == 16


def test_kafka_listens_on_loopback_only_with_a_static_quorum(tmp_path: Path) -> None:
    props = dict(
        line.split("=", 1) for line in server_properties(19092, 19093, tmp_path).splitlines()
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path)
    assert props["offsets.topic.replication.factor"] == "1"


def test_cassandra_yaml_is_a_seed_of_itself_on_loopback(tmp_path: Path) -> None:
    conf = yaml.safe_load(cassandra_yaml(19042, 17000, tmp_path))
    assert conf["native_transport_port"] == 19042
    assert conf["storage_port"] == 17000
    seeds = conf["seed_provider"][0]["parameters"][0]["seeds"]
    assert seeds == f"{conf['listen_address']}:{conf['storage_port']}" == "127.0.0.1:17000"
    dirs = [conf["commitlog_directory"], conf["hints_directory"], *conf["data_file_directories"]]
    assert all(d.startswith(str(tmp_path)) for d in dirs) and len(set(dirs)) == len(dirs)
    for key in ("partitioner", "commitlog_sync", "commitlog_sync_period", "endpoint_snitch"):
        assert conf[key], key


def test_pom_lists_each_pinned_artifact_once() -> None:
    pom = ET.fromstring(jars.pom_xml("kafka", jars.kafka_artifacts("4.1.1")))
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = [
        (d.findtext("m:artifactId", namespaces=ns), d.findtext("m:version", namespaces=ns))
        for d in pom.iterfind(".//m:dependency", ns)
    ]
    assert ("kafka_2.13", "4.1.1") in deps
    assert ("log4j-slf4j-impl", jars.LOG4J_VERSION) in deps  # else Kafka logs nothing
    assert len(deps) == len(set(deps))
