"""The idle time-to-live: a ready scale that nobody used for ``idle_ttl_s`` is terminated, as
/terminate would, and its workers stop; a scale that is analysing is never idle.

Against real API processes with a 2-second TTL: one with the background driver (heartbeat
every 0.2 s), one without it, where polling the status endpoints makes the same progress (App
Engine).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.server import ApiServer

TTL_S = 2.0
SMALL = {"h": "101", "d": "10", "t": "sell", "p": "7"}


def idle_server(home: Path, **env: str) -> ApiServer:
    return ApiServer(home, env={"SIGNALRISK_IDLE_TTL_S": str(TTL_S), **env})


@pytest.fixture(scope="module")
def driven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The background driver looks every 0.2 s."""
    server = idle_server(
        Path(tmp_path_factory.mktemp("home-idle")), SIGNALRISK_HEARTBEAT_INTERVAL_S="0.2"
    )
    server.start()
    yield server
    for proc in server.workers():
        with suppress(psutil.NoSuchProcess):
            proc.resume()
    server.stop()
    assert not server.workers(), "workers outlived the API"


def scale(api: ApiServer) -> dict[str, Any]:
    view: dict[str, Any] = api.get("/v1/scale").json()
    return view


def wait_until(check: Callable[[], bool], what: str, timeout_s: float) -> float:
    """Poll ``check`` every 50 ms; returns the time (epoch s) it first held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(0.05)
    raise AssertionError(f"not {what} within {timeout_s} s")


def assert_idle_termination(api: ApiServer, last_use: float, poll: str = "/v1/scale") -> None:
    """The scale leaves ``ready`` no sooner than the TTL after ``last_use``, its workers stop,
    and the log says why."""
    ended = wait_until(
        lambda: api.get(poll).status_code == 200 and scale(api)["state"] != "ready",
        "terminated for idleness",
        timeout_s=TTL_S + 10,
    )
    assert ended - last_use >= TTL_S
    api.wait_for("/scaled_terminated", "terminated", timeout_s=10, every_s=0.05)
    assert scale(api)["state"] == "cold"
    wait_until(lambda: not api.workers(), "rid of every worker", timeout_s=10)
    assert "idle for" in api.log.read_text()


def test_terminate_ready_scale_unused_past_ttl(driven: ApiServer) -> None:
    driven.warm("lambda", 2)
    view = scale(driven)
    assert view["state"] == "ready" and len(driven.workers()) == 2
    assert_idle_termination(driven, view["ready_at"])


def test_keep_analysing_scale_past_ttl(driven: ApiServer) -> None:
    driven.warm("lambda", 1)
    procs = driven.workers()
    answers: dict[str, httpx.Response] = {}

    def analyse() -> None:
        answers["analyse"] = driven.post("/analyse", SMALL)

    for proc in procs:  # the batch waits on the stopped worker: the analysis outlasts the TTL
        proc.suspend()
    thread = threading.Thread(target=analyse, daemon=True)
    try:
        thread.start()
        wait_until(lambda: scale(driven)["state"] == "analysing", "analysing", timeout_s=10)
        time.sleep(2 * TTL_S)
        assert scale(driven)["state"] == "analysing"
        assert all(proc.is_running() for proc in procs)
    finally:
        for proc in procs:
            with suppress(psutil.NoSuchProcess):
                proc.resume()
        thread.join(60)
    assert answers["analyse"].status_code == 200, answers["analyse"].text
    # Ready since well over the TTL, but used until the analysis ended: that is the last use.
    finished = driven.get("/v1/runs/last").json()["finished_at"]
    assert finished - scale(driven)["ready_at"] > TTL_S
    assert_idle_termination(driven, finished)


def test_terminate_idle_scale_by_polling_without_driver(tmp_path: Path) -> None:
    server = idle_server(tmp_path / "home", SIGNALRISK_BACKGROUND_DRIVER="false")
    server.start()
    try:
        server.warm("lambda", 1)  # polling /scaled_ready makes the warm-up progress
        ready_at = scale(server)["ready_at"]
        assert_idle_termination(server, ready_at, poll="/scaled_ready")
    finally:
        server.stop()
    assert not server.workers()
