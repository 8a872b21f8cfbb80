"""Starting and stopping the stack's server processes, and knowing which ones are ours.

Each server runs in its own session (so a Ctrl-C in the launcher's terminal does not reach it)
with its output in a log file. A pid is trusted only while ``/proc/<pid>/cmdline`` still holds the
marker this launcher put on the command line: a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# Popen handles of servers started by this process: kept so they are not garbage-collected
# (and warned about) while the server runs on; the server itself outlives us by design.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Launched:
    name: str
    pid: int
    marker: str
    log: Path


def spawn(name: str, argv: list[str], log: Path, marker: str, cwd: Path | None = None) -> Launched:
    """Start ``argv`` detached, stdout and stderr to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, start_new_session=True,
        )  # fmt: skip
    _CHILDREN[proc.pid] = proc
    return Launched(name, proc.pid, marker, log)


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_ours(pid: int, marker: str) -> bool:
    """True while ``pid`` is alive (not a zombie) and still runs the command we started."""
    if pid <= 0 or marker not in cmdline(pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def running(pid: int, marker: str) -> bool:
    """Whether a server is still running, for the start-up wait.

    A child this process started is judged by its handle: right after exec, /proc/<pid>/cmdline
    can still be empty for a moment (the kernel sets the argument pages after it switched the
    memory map), which made ``is_ours`` call a healthy, just-started server dead under load.
    """
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    return is_ours(pid, marker)


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, marker: str, timeout_s: float = 30.0) -> bool:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL. Returns True when it had to kill."""
    _reap(pid)
    if not is_ours(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_ours(pid, marker):
            return False
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not is_ours(pid, marker):
            break
        time.sleep(0.1)
    return True


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {log})"
