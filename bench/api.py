"""A real signalrisk API process for the benchmarks, on its own home directory and port.

It is started as users start it (``python -m signalrisk.cli serve``, optionally with
``--workers N``), on 127.0.0.1, with a fresh ``SIGNALRISK_HOME`` so that runs never share state
with a developer's ``var/``. Every ``SIGNALRISK_*`` variable of the caller's environment is
dropped except ``SIGNALRISK_KERNEL`` (the kernel choice is the caller's), then the figure's own
settings are applied. ``stop`` interrupts it like Ctrl-C and then stops any worker process of
this home that outlived it (found by pid ancestry and by ``SIGNALRISK_HOME``; nothing else).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil

from bench.common import Figure, Row

KEEP_ENV = ("SIGNALRISK_KERNEL",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an API under ``home``: the caller's, minus its signalrisk settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALRISK_") or k in KEEP_ENV}
    env["SIGNALRISK_HOME"] = str(home)
    env.update(extra or {})
    return env


class ApiProcess:
    """``signalrisk serve`` on a free loopback port; a context manager that always stops it."""

    def __init__(self, home: Path, env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.home = home
        self.port = free_port()
        self.workers = workers
        self.env = api_env(home, env)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "api.log"
        self.http = httpx.Client(base_url=self.url, timeout=3600.0)
        self._known: dict[int, psutil.Process] = {}
        self.server_errors: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ApiProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def error_rows(self, figure: Figure) -> None:
        """Add a failing row (and the API's log excerpt) if a poll got a 5xx answer."""
        if not self.server_errors:
            return
        first = self.server_errors[0][:300]
        figure.rows.append(
            Row(
                figure.title.split(".")[0],
                "5xx answers while polling /scaled_ready or /scaled_terminated",
                "0",
                str(len(self.server_errors)),
                passed=False,
            )
        )
        figure.notes.append(f"first 5xx while polling: {first}")
        lines = [line.strip() for line in self.log_tail(20000).splitlines() if "Error" in line]
        figure.notes += [f"API log: {line[:300]}" for line in dict.fromkeys(lines)][-3:]

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self, timeout_s: float = 60.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "signalrisk.cli", "serve", "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited at start:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the API did not answer /health in {timeout_s} s:\n{self.log_tail()}")

    # -- the process tree ----------------------------------------------------------------

    def tree(self) -> list[psutil.Process]:
        """The API process and every live descendant (its uvicorn workers, its compute workers)."""
        if self.process is None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            found = []
        for proc in found:
            self._known.setdefault(proc.pid, proc)
        return found

    def _strays(self) -> list[psutil.Process]:
        """Processes of this home still running: ones seen in the tree, and workers by env."""
        strays = [p for p in self._known.values() if p.is_running()]
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if "signalrisk.workers.serve" not in cmdline or proc.pid in self._known:
                continue
            with contextlib.suppress(psutil.Error):
                if proc.environ().get("SIGNALRISK_HOME") == str(self.home):
                    strays.append(proc)
        return strays

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ctrl-C (SIGINT), wait; then stop whatever of this home is still running."""
        self.tree()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for proc in self._strays():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self.http.close()

    # -- the seed's calls --------------------------------------------------------------

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code != 200:
            request = f"{response.request.method} {response.request.url.path}"
            log = f"\nAPI log:\n{self.log_tail()}" if response.status_code >= 500 else ""
            raise RuntimeError(f"{request}: {response.status_code} {response.text[:500]}{log}")
        return response.json()

    def get(self, path: str) -> Any:
        return self._answer(self.http.get(path))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._answer(self.http.post(path, json=body))

    def wait_true(self, path: str, key: str, timeout_s: float, every_s: float) -> float:
        """Poll ``path`` until ``key`` is true; returns the monotonic time it was seen.

        A 5xx answer while polling is recorded in ``server_errors`` (the figure reports it as
        a failure) and polling goes on, so one bad answer does not cost the whole figure.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = self.http.get(path)
            if response.status_code >= 500:
                self.server_errors.append(f"GET {path}: {response.status_code} {response.text}")
            elif self._answer(response).get(key) in (True, "true", "True"):
                return time.monotonic()
            time.sleep(every_s)
        raise TimeoutError(f"{path} not {key} after {timeout_s} s:\n{self.log_tail()}")

    def warm(self, service: str, r: int, every_s: float = 0.05, timeout_s: float = 120.0) -> float:
        """POST /warmup, poll /scaled_ready; seconds from the request to the first ``true``."""
        clock = time.monotonic()
        self.post("/warmup", {"s": service, "r": str(r)})
        return self.wait_true("/scaled_ready", "warm", timeout_s, every_s) - clock

    def terminate(self, timeout_s: float = 120.0) -> None:
        self.get("/terminate")
        self.wait_true("/scaled_terminated", "terminated", timeout_s, 0.05)

    def analyse(self, body: dict[str, Any]) -> tuple[float, str]:
        """POST /analyse; (seconds until it answered, run id)."""
        clock = time.perf_counter()
        answer = self.post("/analyse", body)
        return time.perf_counter() - clock, str(answer.get("run_id", ""))
