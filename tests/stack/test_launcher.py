"""The stack launcher, exercised on a second, private stack (own folder, own free ports).

These tests start real JVMs; they leave the stack the rest of the suite uses alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from compose import processes
from compose.errors import DownloadFailed, NotReady, PortTaken, PrerequisiteMissing
from compose.settings import Settings, StackPorts
from compose.stack import Stack
from tests.requirements import require_stack_tools

pytestmark = [pytest.mark.stack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_settings(stack_dir: Path, **overrides: object) -> Settings:
    ports = StackPorts(kafka=_free_port(), kafka_controller=_free_port(),
                       cassandra_cql=_free_port(), cassandra_storage=_free_port(),
                       redis=_free_port())  # fmt: skip
    fields: dict[str, object] = {"stack_dir": stack_dir, "ports": ports, "ready_timeout_s": 150}
    return Settings(**{**fields, **overrides})  # type: ignore[arg-type]


def our_processes(stack: Stack) -> list[int]:
    """Every live process whose command line carries this stack's folder."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if processes.is_ours(pid, stack.layout.owner)]


@pytest.fixture(scope="module")
def second_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_stack_tools()
    stack = Stack(private_settings(tmp_path_factory.mktemp("stack")), echo=lambda _: None)
    stack.up()
    yield stack
    stack.down(wipe=True)


def test_up_when_already_up_says_so_and_changes_nothing(second_stack: Stack) -> None:
    before = second_stack.records()
    said: list[str] = []
    Stack(second_stack.settings, echo=said.append).up()
    assert said[0] == "stack is already up; nothing changed"
    assert second_stack.records() == before
    assert all(h.state == "ready" for h in second_stack.status())


def test_status_is_truthful_when_one_server_died(second_stack: Stack) -> None:
    redis_pid = second_stack.records()["redis"].pid
    os.kill(redis_pid, signal.SIGKILL)
    processes.stop(redis_pid, second_stack.layout.owner, timeout_s=5)  # reap it

    report = {h.name: h for h in second_stack.status()}
    assert report["redis"].state == "dead"
    assert str(redis_pid) in report["redis"].detail
    assert report["kafka"].state == "ready" and report["cassandra"].state == "ready"
    cli = _cli(second_stack.settings, "status")
    assert cli.returncode == 3 and "redis      dead" in cli.stdout

    kafka_pid = second_stack.records()["kafka"].pid
    second_stack.up()  # restarts only what died
    assert second_stack.records()["kafka"].pid == kafka_pid
    assert second_stack.records()["redis"].pid != redis_pid
    assert all(h.state == "ready" for h in second_stack.status())


def test_down_stops_only_its_own_processes_and_leaves_none_behind(second_stack: Stack) -> None:
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        records = json.loads(second_stack.state_file.read_text())
        records["redis"]["pid"] = bystander.pid  # a pid that is not ours must never be signalled
        redis_pid = second_stack.records()["redis"].pid
        second_stack.state_file.write_text(json.dumps(records))
        second_stack.down()
        assert bystander.poll() is None, "down signalled a process it did not start"
        processes.stop(redis_pid, second_stack.layout.owner, timeout_s=10)  # the real one
        assert our_processes(second_stack) == []
        assert all(h.state == "stopped" for h in second_stack.status())
    finally:
        bystander.kill()
        bystander.wait()
        second_stack.up()  # the fixture's teardown expects a running stack


def test_a_taken_port_is_one_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "stack")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", settings.ports.cassandra_cql))
        holder.listen()
        cli = _cli(settings, "up")
        with pytest.raises(PortTaken) as caught:
            Stack(settings, echo=lambda _: None).up()
    assert cli.returncode == 1
    assert f"port {settings.ports.cassandra_cql} needed by cassandra" in cli.stderr
    assert "QLLM_PORTS__CASSANDRA_CQL" in cli.stderr
    assert caught.value.port == settings.ports.cassandra_cql
    assert our_processes(Stack(settings)) == []


def test_a_server_failing_at_start_takes_down_what_that_up_started(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "stack", cassandra_heap="not-a-size")
    stack = Stack(settings, echo=lambda _: None)
    with pytest.raises(NotReady, match="cassandra exited during start-up"):
        stack.up()
    assert our_processes(stack) == []


def test_missing_java_17_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    with pytest.raises(PrerequisiteMissing, match="Java 17 is required, found Java 11"):
        Stack(private_settings(tmp_path / "stack"), echo=lambda _: None).up()


def test_missing_maven_is_named_when_jars_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(shutil.which("java") or "java")
    monkeypatch.setenv("PATH", str(bin_dir))
    settings = private_settings(tmp_path / "stack", home=tmp_path / "empty-cache")
    with pytest.raises(PrerequisiteMissing, match="Maven"):
        Stack(settings, echo=lambda _: None).up()


def test_unreachable_maven_central_is_named_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m2 = tmp_path / "m2home" / ".m2"
    m2.mkdir(parents=True)
    (m2 / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"
    )
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={m2.parent}")
    settings = private_settings(tmp_path / "stack", home=tmp_path / "empty-cache")
    stack = Stack(settings, echo=lambda _: None)
    with pytest.raises(DownloadFailed, match="Maven could not fetch kafka"):
        stack.up()
    assert our_processes(stack) == []
    assert not (tmp_path / "empty-cache" / "jars" / "kafka-4.1.1" / "lib" / ".complete").exists()


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QLLM_STACK_DIR": str(settings.stack_dir),
        "QLLM_HOME": str(settings.home),
        **{f"QLLM_PORTS__{k.upper()}": str(v) for k, v in settings.ports.model_dump().items()},
    }
    return subprocess.run([sys.executable, "-m", "compose.stack", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
