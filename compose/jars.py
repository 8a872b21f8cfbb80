"""Fetching Kafka and Cassandra from Maven Central as plain jar folders.

Each server gets its own folder under ``<home>/jars/<name>-<version>/lib`` (Cassandra brings other
guava/jackson/logging versions than Kafka, so they must never share a classpath). A folder counts
as complete only once its marker file exists, so an interrupted download is redone, never used.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from compose.errors import DownloadFailed

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
LOG4J_VERSION = "2.25.2"
_MARKER = ".complete"


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str


def kafka_artifacts(version: str) -> list[Artifact]:
    # the broker POM has no SLF4J binding: add log4j2's SLF4J 1.x binding or Kafka logs nothing
    log4j = [
        Artifact("org.apache.logging.log4j", name, LOG4J_VERSION)
        for name in ("log4j-slf4j-impl", "log4j-core", "log4j-api")
    ]
    return [Artifact("org.apache.kafka", "kafka_2.13", version), *log4j]


def cassandra_artifacts(version: str) -> list[Artifact]:
    return [Artifact("org.apache.cassandra", "cassandra-all", version)]


def pom_xml(name: str, artifacts: list[Artifact]) -> str:
    deps = "\n".join(
        f"    <dependency><groupId>{a.group}</groupId><artifactId>{a.artifact}</artifactId>"
        f"<version>{a.version}</version></dependency>"
        for a in artifacts
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>local.qllm</groupId><artifactId>{name}-runtime</artifactId>"
        "<version>1</version><packaging>pom</packaging>\n"
        f"  <dependencies>\n{deps}\n  </dependencies>\n</project>\n"
    )


def jar_dir(home: Path, name: str, version: str) -> Path:
    return home / "jars" / f"{name}-{version}" / "lib"


def is_complete(lib: Path) -> bool:
    return (lib / _MARKER).exists()


def fetch(home: Path, name: str, version: str, artifacts: list[Artifact]) -> Path:
    """The folder of ``name``'s runtime jars, downloading them first when not cached."""
    lib = jar_dir(home, name, version)
    if is_complete(lib):
        return lib
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    pom = lib.parent / "pom.xml"
    pom.write_text(pom_xml(name, artifacts))
    cmd = [
        "mvn", "-B", "-q", "-f", str(pom), DEPENDENCY_PLUGIN,
        "-DincludeScope=runtime", f"-DoutputDirectory={lib}",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(lib, ignore_errors=True)
        tail = (done.stdout + done.stderr).strip().splitlines()[-6:]
        raise DownloadFailed(
            f"Maven could not fetch {name} {version} from Maven Central:\n    "
            + "\n    ".join(tail),
            "check that Maven Central (or a mirror set in ~/.m2/settings.xml) is reachable "
            "and that the pinned "
            f"version {version} is served; QLLM_{name.upper()}_VERSION pins another",
        )
    (lib / _MARKER).write_text(" ".join(f"{a.group}:{a.artifact}:{a.version}" for a in artifacts))
    return lib
