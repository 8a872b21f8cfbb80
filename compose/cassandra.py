"""Apache Cassandra 5.0 as one node on loopback, started straight from its jars.

The flags below are what ``bin/cassandra`` and ``conf/jvm17-server.options`` would pass (the JPMS
opens/exports are required on Java 17, the jamm agent measures memtables), minus the tuning that
only slows a small test node down; plus the fast-start properties test suites use.
"""

from __future__ import annotations

from pathlib import Path

from compose import jars
from compose.servers import Layout

_EXPORTS = [
    "java.base/jdk.internal.misc", "java.management.rmi/com.sun.jmx.remote.internal.rmi",
    "java.management/com.sun.jmx.remote.security", "java.rmi/sun.rmi.registry",
    "java.rmi/sun.rmi.server", "java.sql/java.sql", "java.base/java.lang.ref",
    "jdk.unsupported/sun.misc", "jdk.attach/sun.tools.attach",
    "jdk.compiler/com.sun.tools.javac.file",
]  # fmt: skip
_OPENS = [
    "java.base/java.lang.module", "java.base/jdk.internal.loader", "java.base/jdk.internal.ref",
    "java.base/jdk.internal.reflect", "java.base/jdk.internal.math",
    "java.base/jdk.internal.module", "java.base/jdk.internal.util.jar",
    "jdk.management/com.sun.management.internal", "java.base/sun.nio.ch", "java.base/java.io",
    "java.base/java.lang.reflect", "java.base/java.lang", "java.base/java.util",
    "java.base/java.nio", "jdk.compiler/com.sun.tools.javac",
]  # fmt: skip

_LOGBACK = """\
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
  <logger name="org.apache.cassandra" level="INFO"/>
</configuration>
"""


def cassandra_yaml(cql_port: int, storage_port: int, data: Path) -> str:
    return f"""\
cluster_name: qllm-local
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage_port}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: {storage_port}
native_transport_port: {cql_port}
start_native_transport: true
num_tokens: 1
initial_token: 0
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_disk_access_mode: legacy
data_file_directories: [{data / "data"}]
commitlog_directory: {data / "commitlog"}
saved_caches_directory: {data / "saved_caches"}
hints_directory: {data / "hints"}
cdc_raw_directory: {data / "cdc_raw"}
auto_snapshot: false
hinted_handoff_enabled: false
storage_compatibility_mode: NONE
memtable_heap_space: 128MiB
key_cache_size: 16MiB
file_cache_size: 64MiB
concurrent_compactors: 1
"""


class Cassandra:
    name = "cassandra"

    def __init__(self, layout: Layout, version: str, cql_port: int, storage_port: int,
                 heap: str = "1G") -> None:  # fmt: skip
        self.layout = layout
        self.version = version
        self.cql_port = cql_port
        self.storage_port = storage_port
        self.heap = heap

    def ports(self) -> dict[str, int]:
        return {"cassandra": self.cql_port, "cassandra-storage": self.storage_port}

    def address(self) -> str:
        return f"127.0.0.1:{self.cql_port}"

    def prepare(self) -> list[str]:
        lib = jars.fetch(
            self.layout.home, "cassandra", self.version, jars.cassandra_artifacts(self.version)
        )
        conf, data = self.layout.conf(self.name), self.layout.data(self.name)
        (data / "tmp").mkdir(parents=True, exist_ok=True)
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "cassandra.yaml").write_text(cassandra_yaml(self.cql_port, self.storage_port, data))
        (conf / "logback.xml").write_text(_LOGBACK)
        return self._argv(lib, conf, data)

    def _argv(self, lib: Path, conf: Path, data: Path) -> list[str]:
        jamm = next(lib.glob("jamm-*.jar"))
        jpms = [f"--add-exports={e}=ALL-UNNAMED" for e in _EXPORTS]
        jpms += [f"--add-opens={o}=ALL-UNNAMED" for o in _OPENS]
        return [
            "java", self.layout.marker, *jpms, f"-javaagent:{jamm}",
            f"-Xms{self.heap}", f"-Xmx{self.heap}", "-Xss256k", "-XX:+UseG1GC",
            "-Djdk.attach.allowAttachSelf=true", "-Djava.net.preferIPv4Stack=true",
            "-Dio.netty.tryReflectionSetAccessible=true",
            f"-Djava.io.tmpdir={data / 'tmp'}", f"-Djna.tmpdir={data / 'tmp'}",
            f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.storagedir={data}",
            f"-Dcassandra.logdir={self.layout.log(self.name).parent}",
            f"-Dlogback.configurationFile={conf / 'logback.xml'}",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.initial_token=0",
            "-Dcassandra.ring_delay_ms=1000", "-Dcassandra.skip_sync=true",
            "-cp", f"{conf}:{lib}/*", "org.apache.cassandra.service.CassandraDaemon",
        ]  # fmt: skip

    def probe(self) -> str:
        from cassandra.cluster import Cluster

        cluster = Cluster(["127.0.0.1"], port=self.cql_port, connect_timeout=3,
                          protocol_version=5)  # fmt: skip
        try:
            row = cluster.connect().execute("SELECT release_version FROM system.local").one()
        finally:
            cluster.shutdown()
        return f"Cassandra {row.release_version}"
