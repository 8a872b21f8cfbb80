"""The local stack: real Kafka, Cassandra and Redis as plain processes, without Docker.

    python -m compose.stack up | down [--wipe] | status | logs [SERVER] [-n N] | env

``up`` fetches the pinned jars from Maven Central once (cached under ``QLLM_HOME``), writes the
configs, starts the three servers on loopback, and returns only when each answers a real request.
It is idempotent; a bad environment gives one message naming the fix, and whatever this ``up``
started is stopped again. ``down`` stops only the processes this stack started.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from compose import jars, prerequisites, processes
from compose.cassandra import Cassandra
from compose.errors import NotReady, StackError
from compose.kafka import Kafka
from compose.redis_server import Redis
from compose.servers import Layout, Server
from compose.settings import Settings

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Record:
    """What the launcher remembers of a server it started."""

    pid: int
    address: str
    log: str


@dataclass(frozen=True)
class Health:
    name: str
    state: str  # ready | starting | dead | stopped
    detail: str


class Stack:
    def __init__(self, settings: Settings, echo: Echo = print) -> None:
        self.settings = settings
        self.layout = Layout(settings.stack_dir.resolve(), settings.home.expanduser())
        self.echo = echo
        ports = settings.ports
        self.servers: dict[str, Server] = {
            "kafka": Kafka(self.layout, settings.kafka_version, ports.kafka,
                           ports.kafka_controller, settings.kafka_heap),
            "cassandra": Cassandra(self.layout, settings.cassandra_version, ports.cassandra_cql,
                                   ports.cassandra_storage, settings.cassandra_heap),
            "redis": Redis(self.layout, ports.redis),
        }  # fmt: skip

    # -- state -------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.layout.root / "state.json"

    def records(self) -> dict[str, Record]:
        try:
            raw = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return {name: Record(**rec) for name, rec in raw.items() if name in self.servers}

    def _save(self, records: dict[str, Record]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({n: asdict(r) for n, r in records.items()}, indent=1))

    def running(self) -> dict[str, Record]:
        """The recorded servers whose process is still ours and alive."""
        return {
            n: r for n, r in self.records().items() if processes.is_ours(r.pid, self.layout.owner)
        }

    # -- up ----------------------------------------------------------------------------------
    def up(self) -> None:
        running = self.running()
        missing = [name for name in self.servers if name not in running]
        if not missing:
            self.echo("stack is already up; nothing changed")
            self._print_where(running)
            return
        for name in running:
            self.echo(f"{name}: already running (pid {running[name].pid})")
        self._check_environment(missing)
        started = self._start(missing, running)
        try:
            self._wait_ready(missing, started)
        except BaseException:
            self.echo("stopping what this `up` started …")
            self._stop({n: started[n] for n in missing if n in started})
            raise
        self._print_where(started)

    def _check_environment(self, names: list[str]) -> None:
        if {"kafka", "cassandra"} & set(names):
            prerequisites.require_java17()
            if not all(self._jars_cached(n) for n in names if n != "redis"):
                prerequisites.require_maven()
        ports = {k: v for n in names for k, v in self.servers[n].ports().items()}
        prerequisites.require_free_ports(ports)

    def _jars_cached(self, name: str) -> bool:
        version = getattr(self.settings, f"{name}_version")
        return jars.is_complete(jars.jar_dir(self.layout.home, name, version))

    def _start(self, names: list[str], records: dict[str, Record]) -> dict[str, Record]:
        records = dict(records)
        for name in names:
            server = self.servers[name]
            if name != "redis" and not self._jars_cached(name):
                self.echo(f"{name}: fetching jars from Maven Central (first run only) …")
            argv = server.prepare()
            log = self.layout.log(name)
            launched = processes.spawn(name, argv, log, self.layout.owner, cwd=self.layout.root)
            records[name] = Record(launched.pid, server.address(), str(log))
            self._save(records)  # saved at once, so `down` finds it even if `up` dies now
            self.echo(f"{name}: started (pid {launched.pid})")
        return records

    def _wait_ready(self, names: list[str], records: dict[str, Record]) -> None:
        t0 = time.monotonic()
        deadline = t0 + self.settings.ready_timeout_s
        pending = list(names)
        while pending:
            for name in list(pending):
                rec = records[name]
                if not processes.running(rec.pid, self.layout.owner):
                    raise NotReady(
                        f"{name} exited during start-up; last lines of {rec.log}:\n"
                        + processes.log_tail(Path(rec.log)),
                        f"see {rec.log}",
                    )
                detail = self._probe(name)
                if detail is not None:
                    self.echo(f"{name}: ready in {time.monotonic() - t0:.1f}s ({detail})")
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                logs = "\n".join(processes.log_tail(Path(records[n].log), 15) for n in pending)
                raise NotReady(
                    f"not ready after {self.settings.ready_timeout_s:.0f}s: {', '.join(pending)}\n"
                    + logs,
                    "raise QLLM_READY_TIMEOUT_S on a slow machine, or read the logs above",
                )
            if pending:
                time.sleep(0.5)

    def _probe(self, name: str) -> str | None:
        server = self.servers[name]
        port = next(iter(server.ports().values()))
        if not prerequisites.port_in_use(port):
            return None
        try:
            return server.probe()
        except Exception:
            return None

    def _print_where(self, records: dict[str, Record]) -> None:
        for name, rec in records.items():
            self.echo(f"  {name:<10} {rec.address:<18} log: {rec.log}")

    # -- status, down ------------------------------------------------------------------------
    def status(self) -> list[Health]:
        records = self.records()
        report = []
        for name in self.servers:
            rec = records.get(name)
            if rec is None:
                report.append(Health(name, "stopped", "not started by this stack"))
            elif not processes.is_ours(rec.pid, self.layout.owner):
                report.append(Health(name, "dead", f"pid {rec.pid} is gone; log: {rec.log}"))
            else:
                detail = self._probe(name)
                state = "ready" if detail else "starting"
                report.append(Health(name, state, f"pid {rec.pid} {rec.address} {detail or ''}"))
        return report

    def down(self, wipe: bool = False) -> None:
        records = self.records()
        self._stop(records)
        self.state_file.unlink(missing_ok=True)
        if wipe and self.layout.root.exists():
            shutil.rmtree(self.layout.root)
            self.echo(f"removed {self.layout.root}")

    def _stop(self, records: dict[str, Record]) -> None:
        def stop_one(item: tuple[str, Record]) -> str:
            name, rec = item
            if not processes.is_ours(rec.pid, self.layout.owner):
                return f"{name}: not running"
            killed = processes.stop(rec.pid, self.layout.owner, timeout_s=30)
            return f"{name}: {'killed after 30s' if killed else 'stopped'} (pid {rec.pid})"

        with ThreadPoolExecutor(max_workers=3) as pool:
            for line in pool.map(stop_one, records.items()):
                self.echo(line)

    def env_lines(self) -> list[str]:
        s = self.settings
        return [
            f"export QLLM_KAFKA_BOOTSTRAP={s.kafka_bootstrap}",
            f"export QLLM_CASSANDRA_CONTACT={s.cassandra_contact}",
            f"export QLLM_REDIS_URL={s.redis_url}",
        ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compose.stack", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start Kafka, Cassandra and Redis and wait until each is ready")
    down = sub.add_parser("down", help="stop the servers this stack started")
    down.add_argument("--wipe", action="store_true", help="also remove their data and logs")
    sub.add_parser("status", help="report each server truthfully (exit 3 unless all ready)")
    logs = sub.add_parser("logs", help="print the end of the servers' logs")
    logs.add_argument("server", nargs="?", choices=["kafka", "cassandra", "redis"])
    logs.add_argument("-n", type=int, default=40, help="lines per server")
    sub.add_parser("env", help="print the QLLM_* exports that point clients at this stack")
    return parser


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    args = _parser().parse_args(argv)
    for noisy in ("cassandra", "aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    stack = Stack(settings or Settings())
    try:
        return _run(stack, args)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(stack: Stack, args: argparse.Namespace) -> int:
    if args.command == "up":
        stack.up()
    elif args.command == "down":
        stack.down(wipe=args.wipe)
    elif args.command == "status":
        report = stack.status()
        for health in report:
            print(f"{health.name:<10} {health.state:<9} {health.detail}")
        return 0 if all(h.state == "ready" for h in report) else 3
    elif args.command == "logs":
        for name in [args.server] if args.server else list(stack.servers):
            print(f"==> {stack.layout.log(name)} <==")
            print(processes.log_tail(stack.layout.log(name), args.n))
    elif args.command == "env":
        print("\n".join(stack.env_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
