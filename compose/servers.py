"""What every server of the local stack offers the launcher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Layout:
    """Where one stack keeps its state: data, logs, configs, pid records."""

    root: Path  # absolute
    home: Path

    def data(self, server: str) -> Path:
        return self.root / "data" / server

    def conf(self, server: str) -> Path:
        return self.root / "conf" / server

    def log(self, server: str) -> Path:
        return self.root / "logs" / f"{server}.log"

    @property
    def owner(self) -> str:
        """Appears in the command line of every process this stack starts (its absolute root)."""
        return str(self.root)

    @property
    def marker(self) -> str:
        # put on every JVM we start, so a pid is only ever trusted while it runs ours
        return f"-Dqllm.stack={self.root}"


class Server(Protocol):
    name: str

    def ports(self) -> dict[str, int]:
        """Every port the server binds, by a name used in messages."""
        ...

    def prepare(self) -> list[str]:
        """Fetch, write configs, format storage; return the command line to start it."""
        ...

    def probe(self) -> str:
        """One real request (metadata call, CQL query, PING); raise if it fails."""
        ...

    def address(self) -> str:
        """Where clients connect, e.g. ``127.0.0.1:9092``."""
        ...
