"""The worker HTTP app, run for real: ``python -m signalrisk.workers.serve`` over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import free_port

SECRET = "s3cret-of-this-scale"
# A worker that stops itself exits through uvicorn's graceful shutdown, which re-raises SIGTERM.
SELF_STOPPED = (0, -signal.SIGTERM)
AUTH = {"Authorization": f"Bearer {SECRET}"}
INVOKE = "/2015-03-31/functions/x/invocations"


class Worker:
    """One worker process on a free loopback port."""

    def __init__(self, log: Path, idle_timeout: float = 30.0, secret: str | None = SECRET) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "SIGNALRISK_WORKER_SECRET"}
        if secret is not None:
            env["SIGNALRISK_WORKER_SECRET"] = secret
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "signalrisk.workers.serve",
                    "--port",
                    str(self.port),
                    "--resource-id",
                    "w-1",
                    "--idle-timeout",
                    str(idle_timeout),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_up(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log.read_text()}")
            try:
                httpx.get(f"{self.url}/health", timeout=0.5)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"worker did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A worker with a long idle timeout, shared by the HTTP tests of this module."""
    started = Worker(tmp_path_factory.mktemp("worker") / "worker.log")
    try:
        started.wait_up()
        yield started
    finally:
        started.stop()


def test_get_health_without_secret_is_unauthorized(worker: Worker) -> None:
    response = httpx.get(f"{worker.url}/health", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "header", [f"Bearer {SECRET}x", "Bearer wrong", SECRET, f"Basic {SECRET}", "Bearer", ""]
)
def test_get_health_with_wrong_secret_is_unauthorized(worker: Worker, header: str) -> None:
    response = httpx.get(f"{worker.url}/health", headers={"Authorization": header}, timeout=5)
    assert response.status_code == 401


def test_get_health_with_secret_answers_resource_id(worker: Worker) -> None:
    response = httpx.get(f"{worker.url}/health", headers=AUTH, timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["resource_id"] == "w-1"
    assert body["pid"] == worker.process.pid


def test_post_compute_without_secret_is_unauthorized(worker: Worker) -> None:
    payload = {"mean": 0.001, "std": 0.02, "shots": 1000}
    for path in ("/", "/invoke", INVOKE):
        response = httpx.post(f"{worker.url}{path}", json=payload, timeout=5)
        assert response.status_code == 401, path
        assert "var95" not in response.text


@pytest.mark.parametrize("path", ["/", "/invoke", INVOKE])
def test_post_payload_returns_result(worker: Worker, path: str) -> None:
    payload = {"mean": "0.001", "std": "0.02", "shots": "10000", "seed": "42"}
    response = httpx.post(f"{worker.url}{path}", json=payload, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    assert "x-amz-function-error" not in response.headers
    body = response.json()
    assert body["seed"] == 42 and body["resource_id"] == "w-1"
    assert -0.1 < body["var99"] < body["var95"] < 0.0


def test_post_batch_matches_in_process_handler(worker: Worker) -> None:
    from signalrisk.workers.compute import compute

    payload = {
        "mean": [0.001, -0.01],
        "std": [0.02, 0.05],
        "shots": 5000,
        "seed": 9,
        "resource_index": 1,
    }
    response = httpx.post(f"{worker.url}/", json=payload, headers=AUTH, timeout=30)
    expected = compute(payload)
    assert response.json()["var95"] == expected["var95"]
    assert response.json()["var99"] == expected["var99"]


def test_invoke_lambda_path_bad_payload_reports_function_error(worker: Worker) -> None:
    response = httpx.post(
        f"{worker.url}{INVOKE}", json={"mean": 0.001, "std": 0.02}, headers=AUTH, timeout=5
    )
    assert response.status_code == 200
    assert response.headers["x-amz-function-error"] == "Unhandled"
    body = response.json()
    assert "shots" in body["errorMessage"] and body["errorType"] == "ValueError"


def test_invoke_lambda_path_malformed_json_reports_function_error(worker: Worker) -> None:
    response = httpx.post(f"{worker.url}{INVOKE}", content=b"{not json", headers=AUTH, timeout=5)
    assert response.status_code == 200
    assert response.headers["x-amz-function-error"] == "Unhandled"
    assert response.json()["errorMessage"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"mean": 0.001, "std": 0.02, "shots": 0}', "shots"),
        (b'{"mean": [0.001], "std": [-0.02], "shots": 10}', "std"),
        (b'{"mean": 1' + b"0" * 400 + b', "std": 0.02, "shots": 10}', "mean"),
        (b'{"mean": -1e308, "std": 1e308, "shots": 1000, "seed": 1}', "overflow"),
        (b"[1, 2]", "object"),
        (b"{not json", ""),
    ],
)
def test_post_bad_payload_is_422(worker: Worker, body: bytes, field: str) -> None:
    response = httpx.post(f"{worker.url}/", content=body, headers=AUTH, timeout=5)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and field in error["message"]
    assert "x-amz-function-error" not in response.headers


def test_get_unknown_path_is_404_and_worker_keeps_serving(worker: Worker) -> None:
    assert httpx.get(f"{worker.url}/nope", headers=AUTH, timeout=5).status_code == 404
    assert httpx.get(f"{worker.url}/", headers=AUTH, timeout=5).status_code == 405
    assert httpx.get(f"{worker.url}/health", headers=AUTH, timeout=5).status_code == 200


def test_start_worker_without_secret_exits_with_status_2(tmp_path: Path) -> None:
    for secret in (None, ""):
        started = Worker(tmp_path / "nosecret.log", secret=secret)
        try:
            assert started.process.wait(20) == 2
        finally:
            started.stop()
    assert "SIGNALRISK_WORKER_SECRET" in (tmp_path / "nosecret.log").read_text()


def test_idle_worker_exits_on_its_own(tmp_path: Path) -> None:
    started = Worker(tmp_path / "idle.log", idle_timeout=1.0)
    try:
        started.wait_up()
        began = time.monotonic()
        assert started.process.wait(8) in SELF_STOPPED
        assert time.monotonic() - began < 5.0
    finally:
        started.stop()


def test_called_worker_stays_alive_past_idle_timeout(tmp_path: Path) -> None:
    started = Worker(tmp_path / "busy.log", idle_timeout=1.0)
    try:
        started.wait_up()
        began = time.monotonic()
        while time.monotonic() - began < 2.2:
            response = httpx.get(f"{started.url}/health", headers=AUTH, timeout=2)
            assert response.status_code == 200
            time.sleep(0.3)
        assert started.process.poll() is None
        # ... and once the calls stop, it still stops itself.
        assert started.process.wait(8) in SELF_STOPPED
    finally:
        started.stop()


def test_unauthorized_calls_do_not_keep_idle_worker_alive(tmp_path: Path) -> None:
    """Scanners hitting a public instance must not stop it from shutting down when idle."""
    started = Worker(tmp_path / "scanned.log", idle_timeout=1.0)
    try:
        started.wait_up()
        began = time.monotonic()
        while started.process.poll() is None and time.monotonic() - began < 6.0:
            try:
                httpx.get(f"{started.url}/health", timeout=1)
                httpx.post(f"{started.url}/", json={}, timeout=1)
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert started.process.wait(3) in SELF_STOPPED
        assert time.monotonic() - began < 5.0
    finally:
        started.stop()


def test_long_computation_outlives_idle_timeout(tmp_path: Path) -> None:
    """A call running longer than the idle timeout is not cut short, nor is the worker."""
    started = Worker(tmp_path / "long.log", idle_timeout=1.0)
    try:
        started.wait_up()
        n = 300  # 3e9 draws: over 1 s on either kernel (numba ~1.2 G/s per core)
        payload = {"mean": [0.0] * n, "std": [0.02] * n, "shots": 10_000_000, "seed": 1}
        began = time.monotonic()
        response = httpx.post(f"{started.url}/", json=payload, headers=AUTH, timeout=60)
        took = time.monotonic() - began
        assert response.status_code == 200 and len(response.json()["var95"]) == n
        assert took > 1.0, "the computation should outlast the idle timeout"
        # The worker was busy, not idle: it still serves right after the long call.
        health = httpx.get(f"{started.url}/health", headers=AUTH, timeout=2)
        assert health.status_code == 200
    finally:
        started.stop()
