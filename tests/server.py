"""A real signalrisk API process for tests: ``signalrisk serve`` under uvicorn on 127.0.0.1.

Tests talk to it over HTTP with httpx, like the source system's own test client. The helper
can kill it (-9), stop it gracefully (Ctrl-C) and start it again on the same home directory.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil


@contextmanager
def sqlite_write_lock(path: Path) -> Iterator[None]:
    """Hold the write lock of the SQLite database at ``path``, as an API mid-write would:
    reads go on (WAL), every write waits (busy timeout) until the block ends."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer:
    """One API process on a home directory; ``start`` again after ``kill`` to test restarts."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.extra_env = env or {}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = home / "api.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        env = {**os.environ, "SIGNALRISK_HOME": str(self.home), **self.extra_env}
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "signalrisk.cli", "serve", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"API exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"API did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown hook runs; workers are left as a crash leaves them."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def interrupt(self, timeout_s: float = 20.0) -> int:
        """Ctrl-C: SIGINT, then wait for a clean exit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout_s)

    def workers(self) -> list[psutil.Process]:
        """Worker processes whose home is this server's (found by command line and env)."""
        found = []
        for proc in psutil.process_iter(["cmdline", "environ"]):
            cmdline = proc.info.get("cmdline") or []
            if "signalrisk.workers.serve" not in cmdline:
                continue
            environ = proc.info.get("environ") or {}
            if environ.get("SIGNALRISK_HOME") == str(self.home):
                found.append(proc)
        return found

    def stop(self) -> None:
        """Stop the API and every worker it may have left behind."""
        if self.process and self.process.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                self.kill()
        for proc in self.workers():
            try:
                proc.resume()
                proc.kill()
            except psutil.NoSuchProcess:
                pass

    # -- client helpers ----------------------------------------------------------------

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=60, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=120, **kwargs)

    def wait_for(self, path: str, key: str, timeout_s: float = 30.0, every_s: float = 0.1) -> None:
        """Poll ``path`` until ``body[key]`` is true in any of the seed's spellings."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.get(path).json().get(key)
            if value in (True, "true", "True"):
                return
            time.sleep(every_s)
        raise AssertionError(f"{path} did not report {key}=true within {timeout_s} s")

    def warm(self, service: str, r: int) -> None:
        response = self.post("/warmup", {"s": service, "r": str(r)})
        assert response.status_code == 200, response.text
        self.wait_for("/scaled_ready", "warm")

    def terminate(self) -> None:
        assert self.get("/terminate").status_code == 200
        self.wait_for("/scaled_terminated", "terminated")
