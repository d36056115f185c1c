"""The API inside the CLI process, for ``signalrisk run``: uvicorn in a background thread on
127.0.0.1 and a port of its own, the ordinary app (``create_app``) on the given settings.

Stopping it runs the app's shutdown, which stops every local worker of the platform; any worker
of the scales this run started that is still alive after that is killed (:func:`sweep`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from signalrisk.client import ClientError
from signalrisk.core.config import Settings


class EmbeddedApiFailed(ClientError):
    """The in-process API did not start."""

    code = "embedded_api"


class EmbeddedApi:
    """``with EmbeddedApi(settings) as api:`` serves on ``api.url`` until the block ends."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))  # bound here, so the port is ours before serving
        self.port = int(self._socket.getsockname()[1])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        from signalrisk.api.app import create_app

        config = uvicorn.Config(
            create_app(self.settings),
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [self._socket]},
            name="signalrisk-api",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not self._thread.is_alive():
                raise EmbeddedApiFailed(
                    f"the embedded API did not start (home {self.settings.home})"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedApiFailed(f"the embedded API did not start within {timeout_s:g} s")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Shut the server down (the app's shutdown stops the local workers) and wait for it."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logging.getLogger(__name__).warning("the embedded API did not stop in time")
        self._socket.close()

    def __enter__(self) -> EmbeddedApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sweep(scale_ids: set[str], grace_s: float = 3.0) -> int:
    """Kill every worker process still running for one of ``scale_ids``; how many there were."""
    import psutil

    from signalrisk.compute.localproc import find_workers, kill_worker

    found = [p for scale_id in scale_ids for p in find_workers(scale_id)]
    for process in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            kill_worker(process.pid, process.create_time(), grace_s=grace_s)
    return len(found)


@contextmanager
def home_environment(home: Path) -> Iterator[None]:
    """``SIGNALRISK_HOME`` for the duration, as ``serve`` sets it: workers inherit it, and
    ``signalrisk cleanup`` finds them by it."""
    before = os.environ.get("SIGNALRISK_HOME")
    os.environ["SIGNALRISK_HOME"] = str(home)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SIGNALRISK_HOME", None)
        else:
            os.environ["SIGNALRISK_HOME"] = before
