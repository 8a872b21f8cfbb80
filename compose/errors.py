"""Errors of the local stack launcher.

Every error names what is wrong and how to fix it; the CLI prints ``message`` and ``fix`` and
exits non-zero. Nothing else is printed, so a bad environment reads as one clear message.
"""

from __future__ import annotations


class StackError(Exception):
    """Base of the launcher's errors."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class PrerequisiteMissing(StackError):
    """Java 17, Maven or redis-server is missing or the wrong version."""


class DownloadFailed(StackError):
    """Maven could not fetch the pinned jars (offline, or the version is not served)."""


class PortTaken(StackError):
    """A port the stack needs is held by some other process."""

    def __init__(self, server: str, port: int) -> None:
        super().__init__(
            f"port {port} needed by {server} is already in use by another process",
            f"stop whatever listens on 127.0.0.1:{port}, or move {server} with "
            f"QLLM_PORTS__{_port_env(server)}=<free port>",
        )
        self.server = server
        self.port = port


class NotReady(StackError):
    """A server started but did not become ready in time."""


def _port_env(server: str) -> str:
    return {
        "kafka": "KAFKA",
        "kafka-controller": "KAFKA_CONTROLLER",
        "cassandra": "CASSANDRA_CQL",
        "cassandra-storage": "CASSANDRA_STORAGE",
        "redis": "REDIS",
    }.get(server, server.upper())
