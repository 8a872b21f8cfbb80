"""Redis from Debian's package: no persistence (the projection is rebuilt from Cassandra)."""

from __future__ import annotations

from compose.prerequisites import ensure_redis_server
from compose.servers import Layout


class Redis:
    name = "redis"

    def __init__(self, layout: Layout, port: int) -> None:
        self.layout = layout
        self.port = port

    def ports(self) -> dict[str, int]:
        return {"redis": self.port}

    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def prepare(self) -> list[str]:
        binary = ensure_redis_server()
        data = self.layout.data(self.name)
        data.mkdir(parents=True, exist_ok=True)
        # set-proc-title no keeps the owner path (in --dir) readable in /proc/<pid>/cmdline
        return [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(data),
            "--set-proc-title", "no", "--protected-mode", "yes",
            "--logfile", "", "--loglevel", "notice",
        ]  # fmt: skip

    def probe(self) -> str:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        try:
            client.ping()
            version = client.info("server")["redis_version"]
        finally:
            client.close()
        return f"Redis {version}"
