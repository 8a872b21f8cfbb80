"""Apache Kafka 4 in KRaft mode: one JVM as broker and controller on loopback.

Static quorum (``controller.quorum.voters``), formatted once with a fresh cluster id; internal
topics with one partition and no rebalance delay, so a cold node is usable in seconds.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from pathlib import Path

from compose import jars
from compose.errors import StackError
from compose.servers import Layout

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64, no padding, never starting with '-'."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def server_properties(port: int, controller_port: int, log_dir: Path) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "168",
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


class Kafka:
    name = "kafka"

    def __init__(self, layout: Layout, version: str, port: int, controller_port: int,
                 heap: str = "1g") -> None:  # fmt: skip
        self.layout = layout
        self.version = version
        self.port = port
        self.controller_port = controller_port
        self.heap = heap

    def ports(self) -> dict[str, int]:
        return {"kafka": self.port, "kafka-controller": self.controller_port}

    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def prepare(self) -> list[str]:
        lib = jars.fetch(
            self.layout.home, "kafka", self.version, jars.kafka_artifacts(self.version)
        )
        conf, data = self.layout.conf(self.name), self.layout.data(self.name)
        conf.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        props = conf / "server.properties"
        props.write_text(server_properties(self.port, self.controller_port, data))
        (conf / "log4j2.properties").write_text(_LOG4J2)
        if not (data / "meta.properties").exists():
            self._format(lib, props)
        return [
            "java", self.layout.marker, f"-Xms{self.heap}", f"-Xmx{self.heap}",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.layout.log(self.name).parent}",
            "-cp", f"{lib}/*", "kafka.Kafka", str(props),
        ]  # fmt: skip

    def _format(self, lib: Path, props: Path) -> None:
        cmd = [
            "java", "-Xmx256m", "-cp", f"{lib}/*", "kafka.tools.StorageTool",
            "format", "-t", cluster_id(), "-c", str(props),
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(
                f"formatting Kafka's storage failed: {(done.stdout + done.stderr).strip()[-600:]}",
                "run `python -m compose.stack down --wipe` and try again",
            )

    def probe(self) -> str:
        return asyncio.run(_describe_cluster(self.address()))


async def _describe_cluster(bootstrap: str) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return f"cluster {cluster['cluster_id']}, {len(cluster['brokers'])} broker(s)"
