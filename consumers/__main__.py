"""``python -m consumers training|inference|kernels|models|all``.

One role runs one consumer-group member in this process; start N processes of a role and Kafka
spreads the topic's partitions over them (each logs the partitions it owns), e.g. three training
workers on one host: ``for i in 1 2 3; do python -m consumers training & done``. ``all`` supervises
one subprocess per role (isolation: a crash or a CUDA fault in one group does not take the others
down) and restarts a child that exits on its own; SIGTERM/SIGINT is forwarded to the children,
which checkpoint, commit and leave their groups. A child also stops that way when its supervisor
is gone (killed with SIGKILL, so nothing was forwarded): it watches its parent (``SUPERVISOR``),
and is never left running as an orphan beside the supervisor's replacement. Settings come from
``QLLM_*`` (``Settings``) and ``QLLM_WORKER_*`` (``WorkerSettings``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from functools import partial

from compose.heap import freeze_startup_heap
from compose.settings import Settings
from consumers.config import WorkerSettings
from consumers.loop import WorkerLoop
from consumers.runtime import ROLES, run_worker, use_torch_threads

USAGE = f"usage: python -m consumers {'|'.join(ROLES)}|all"
SUPERVISOR = "QLLM_CONSUMERS_SUPERVISOR_PID"  # set by ``all`` for its children


async def _orphan_watch(stop: asyncio.Event, supervisor: int, every_s: float = 1.0) -> None:
    """Stop (as on SIGTERM) once the supervising parent is gone."""
    while not stop.is_set():
        if os.getppid() != supervisor:
            logging.warning("supervisor %d is gone; stopping", supervisor)
            stop.set()
            return
        await asyncio.sleep(every_s)


def _connected(role: str, loop: WorkerLoop) -> None:
    freeze_startup_heap(f"{role} worker")  # compose.heap: torch's objects out of the GC's scans


async def _serve(role: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    supervisor = os.environ.get(SUPERVISOR)
    watch = asyncio.create_task(_orphan_watch(stop, int(supervisor))) if supervisor else None
    try:
        ready = partial(_connected, role)  # the loop is built: every client is connected
        worker = WorkerSettings()
        if role != "models":  # the model handler runs no torch
            use_torch_threads(worker)
        await run_worker(role, Settings(), worker, stop, on_loop=ready)
    finally:
        if watch is not None:
            watch.cancel()


def _supervise() -> int:
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    env = {**os.environ, SUPERVISOR: str(os.getpid())}

    def start(role: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "consumers", role], env=env)

    for role in ROLES:
        children[role] = start(role)
    while not stopping:
        for role, child in list(children.items()):
            if child.poll() is not None and not stopping:
                logging.warning("consumers %s exited with %s; restarting", role, child.returncode)
                time.sleep(1.0)
                children[role] = start(role)
        time.sleep(0.5)
    return max((child.wait() for child in children.values()), default=0)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if argv == ["all"]:
        return _supervise()
    if len(argv) != 1 or argv[0] not in ROLES:
        print(USAGE, file=sys.stderr)
        return 2
    asyncio.run(_serve(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
