"""Checks of the host before anything is started: Java 17, Maven, redis-server, free ports."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess

from compose.errors import PortTaken, PrerequisiteMissing

JAVA_FIX = (
    "install OpenJDK 17 (Debian: apt-get install -y openjdk-17-jre-headless) and put it on PATH"
)


def java_major(java: str = "java") -> int:
    """The major version of ``java`` on PATH; raises PrerequisiteMissing when there is none."""
    if shutil.which(java) is None:
        raise PrerequisiteMissing("java was not found on PATH", JAVA_FIX)
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        raise PrerequisiteMissing(f"could not read the Java version from: {out.stderr!r}", JAVA_FIX)
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_java17(java: str = "java") -> None:
    """Cassandra 5.0 runs on Java 11 or 17 only, and Kafka 4 needs 17+: so exactly 17."""
    major = java_major(java)
    if major != 17:
        raise PrerequisiteMissing(f"Java 17 is required, found Java {major}", JAVA_FIX)


def require_maven(mvn: str = "mvn") -> None:
    if shutil.which(mvn) is None:
        raise PrerequisiteMissing(
            "Maven (mvn) was not found on PATH; it fetches Kafka and Cassandra from Maven Central",
            "install Maven 3.8+ (Debian: apt-get install -y maven)",
        )


def ensure_redis_server(binary: str = "redis-server") -> str:
    """Path of redis-server, installing Debian's package when missing and we are root."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PrerequisiteMissing(
            "redis-server was not found on PATH",
            "as root: apt-get update && apt-get install -y redis-server",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "redis-server"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise PrerequisiteMissing(
                f"installing redis-server failed: {' '.join(cmd)} exited {done.returncode}: "
                f"{done.stderr.strip()[-400:]}",
                "install redis-server by hand (apt-get install -y redis-server)",
            )
    found = shutil.which(binary)
    if found is None:
        raise PrerequisiteMissing("redis-server is still missing after apt-get install", "")
    return found


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_free_ports(ports: dict[str, int]) -> None:
    """Raise PortTaken for the first port something already listens on."""
    for server, port in ports.items():
        if port_in_use(port):
            raise PortTaken(server, port)
