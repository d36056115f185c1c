"""Local worker processes: start, find, check and stop them.

Each worker is ``python -m signalrisk.workers.serve`` serving the worker HTTP app on 127.0.0.1.
The parent binds the listening socket and hands it over (``pass_fds``), so the port is known and
recorded before the process runs. Workers run in their own session, so a Ctrl-C in the API's
terminal does not reach them: the API stops them itself on shutdown, and a worker orphaned by a
crash stops itself after its idle timeout. The scale id is on the command line, so ``cleanup`` can
find every worker of this deployment even when the database has lost track of it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

WORKER_MODULE = "signalrisk.workers.serve"


@dataclass(frozen=True, slots=True)
class WorkerProcess:
    """A started worker: where it listens and how to recognise it later."""

    resource_id: str
    pid: int
    create_time: float
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def spawn_worker(
    resource_id: str, scale_id: str, secret: str, idle_timeout_s: float, log_dir: Path
) -> WorkerProcess:
    """Start one worker on a fresh loopback port; returns at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SIGNALRISK_WORKER_SECRET": secret,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        WORKER_MODULE,
        "--fd",
        str(sock.fileno()),
        "--resource-id",
        resource_id,
        "--scale-id",
        scale_id,
        "--idle-timeout",
        str(idle_timeout_s),
    ]
    with open(log_dir / f"{resource_id}.log", "ab") as log:
        process = subprocess.Popen(
            command,
            pass_fds=(sock.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    sock.close()
    try:
        create_time = psutil.Process(process.pid).create_time()
    except psutil.NoSuchProcess:
        create_time = 0.0
    return WorkerProcess(resource_id, process.pid, create_time, port)


def _reap(pid: int) -> None:
    """Collect the exit status of our own child, so that it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):  # not our child: its parent (or init) reaps it
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int | None, create_time: float | None) -> bool:
    """Whether the process still runs and is the one we started (not a reused pid)."""
    if not pid:
        return False
    _reap(pid)
    try:
        process = psutil.Process(pid)
        if create_time and abs(process.create_time() - create_time) > 0.05:
            return False
        return process.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False


def stop_worker(pid: int | None, create_time: float | None) -> None:
    """Ask a worker to stop (SIGTERM); ``kill_worker`` finishes the job if it lingers."""
    if is_alive(pid, create_time):
        assert pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def kill_worker(pid: int | None, create_time: float | None, grace_s: float = 3.0) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL."""
    stop_worker(pid, create_time)
    deadline = time.monotonic() + grace_s
    while is_alive(pid, create_time) and time.monotonic() < deadline:
        time.sleep(0.02)
    if is_alive(pid, create_time):
        assert pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_hung_worker(pid: int | None, create_time: float | None, wait_s: float = 2.0) -> None:
    """SIGKILL a worker that stopped answering, and wait up to ``wait_s`` until it is gone, so
    that the next probe records it dead. A hung process may not act on SIGTERM at all."""
    if not is_alive(pid, create_time):
        return
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    while is_alive(pid, create_time) and time.monotonic() < deadline:
        time.sleep(0.01)


def find_workers(scale_id: str | None = None) -> list[psutil.Process]:
    """Every running signalrisk worker on this machine (of one scale, if given)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if WORKER_MODULE not in cmdline:
            continue
        if scale_id is None or scale_id in cmdline:
            found.append(process)
    return found
