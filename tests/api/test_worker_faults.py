"""Worker faults during an analysis, injected into real worker processes of a real API.

- killed mid-analysis: the worker is stopped (SIGSTOP) so that it cannot answer, the analysis
  starts, and once its batch has reached the worker's socket the worker is killed (SIGKILL);
- hung: the worker is stopped and stays so; the API's worker call timeout (2 s here) expires;
- every worker hung: the run fails cleanly.

In each case the numbers must be bit-identical to a fault-free run with the same seed (the
streams follow the batch's resource index, not the process that runs it), the fault must be
recorded in the run and logged under the run id, and the failed worker recorded dead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from signalrisk.api.errors import status_of
from signalrisk.core.errors import ComputeError
from tests.server import ApiServer

SERVICES = ["lambda", "ec2"]
TIMEOUT_S = 2.0
ANALYSIS = {"h": "101", "d": "20000", "t": "sell", "p": "7", "seed": "20250211"}
TCP_ESTABLISHED = "01"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(
        Path(tmp_path_factory.mktemp("home")),
        # Replacement off: these tests follow the dead workers' batches to the live ones, and
        # the dead stay in the scale; replacement is tested in test_replacement.py.
        env={
            "SIGNALRISK_WORKER_CALL_TIMEOUT_S": str(TIMEOUT_S),
            "SIGNALRISK_MAX_REPLACEMENTS": "0",
        },
    )
    server.start()
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


def fresh_scale(api: ApiServer, service: str) -> list[dict[str, Any]]:
    """A new scale of 3 workers, all ready."""
    if api.get("/scaled_terminated").json()["terminated"] != "true":
        api.terminate()
    api.warm(service, 3)
    resources: list[dict[str, Any]] = api.get("/v1/scale").json()["resources"]
    assert [r["state"] for r in resources] == ["ready"] * 3
    return resources


def analyse(api: ApiServer) -> httpx.Response:
    return api.post("/analyse", ANALYSIS)


def run_of(api: ApiServer, response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    run: dict[str, Any] = api.get(f"/v1/runs/{response.json()['run_id']}").json()
    return run


def var_lists(run: dict[str, Any]) -> tuple[list[float], list[float]]:
    return [i["var95"] for i in run["items"]], [i["var99"] for i in run["items"]]


def states(api: ApiServer) -> dict[str, str]:
    return {r["id"]: r["state"] for r in api.get("/v1/scale").json()["resources"]}


def queued_bytes(port: int) -> int:
    """Bytes received on connections to ``port`` that no process has read yet (Linux)."""
    total = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == TCP_ESTABLISHED and int(local.split(":")[1], 16) == port:
            total += int(queues.split(":")[1], 16)
    return total


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def log_lines(api: ApiServer, *words: str) -> list[str]:
    return [line for line in api.log.read_text().splitlines() if all(w in line for w in words)]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("service", SERVICES)
def test_worker_killed_mid_analysis_batch_retried_bit_identical(
    api: ApiServer, service: str
) -> None:
    resources = fresh_scale(api, service)
    reference = run_of(api, analyse(api))
    assert reference["faults"] == []
    victim = resources[1]
    others = {r["id"] for r in resources} - {victim["id"]}
    process = psutil.Process(victim["pid"])

    # Stopped, the victim cannot answer its batch; it is killed once the batch has reached it.
    process.suspend()
    answer: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: answer.append(analyse(api)))
    caller.start()
    port = urlsplit(victim["address"]).port
    assert port is not None
    wait_for(lambda: queued_bytes(port) > 0, 30, "the batch never reached the victim")
    process.kill()
    caller.join(60)

    run = run_of(api, answer[0])
    assert var_lists(run) == var_lists(reference)  # bit-identical
    [fault] = run["faults"]
    assert (fault["resource_index"], fault["resource"]) == (1, victim["id"])
    assert fault["retried_on"] in others
    assert fault["at"] >= run["created_at"] and fault["elapsed_s"] > 0
    assert run["batches"][1]["resource_id"] == fault["retried_on"]
    assert [b["resource_index"] for b in run["batches"]] == [0, 1, 2]
    assert log_lines(api, "batch failed", f"run={run['run_id']}", f"resource={victim['id']}")

    # Recorded dead at once: not ready, and the next analysis goes straight to live workers.
    assert states(api)[victim["id"]] == "dead"
    assert api.get("/scaled_ready").json() == {"warm": "false"}
    again = run_of(api, analyse(api))
    assert again["faults"] == []
    assert {b["resource_id"] for b in again["batches"]} == others
    assert var_lists(again) == var_lists(reference)
    api.terminate()


@pytest.mark.parametrize("service", SERVICES)
def test_worker_hung_times_out_batch_retried_bit_identical(api: ApiServer, service: str) -> None:
    resources = fresh_scale(api, service)
    reference = run_of(api, analyse(api))
    victim = resources[0]
    psutil.Process(victim["pid"]).suspend()

    clock = time.monotonic()
    response = analyse(api)
    elapsed = time.monotonic() - clock
    run = run_of(api, response)
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 10
    assert var_lists(run) == var_lists(reference)  # bit-identical
    [fault] = run["faults"]
    assert (fault["resource_index"], fault["resource"]) == (0, victim["id"])
    assert f"did not answer within {TIMEOUT_S:g} s" in fault["error"]
    assert fault["elapsed_s"] >= TIMEOUT_S
    assert run["batches"][0]["resource_id"] == fault["retried_on"] != victim["id"]
    assert log_lines(api, "batch failed", f"run={run['run_id']}", f"resource={victim['id']}")
    # A hung worker is stopped for good (as Lambda stops a timed-out environment) and
    # recorded dead; a time-out bills the failed call's time (on Lambda).
    wait_for(lambda: gone(victim["pid"]), 10, "the hung worker was not stopped")
    assert states(api)[victim["id"]] == "dead"
    assert api.get("/scaled_ready").json() == {"warm": "false"}
    if service == "lambda":
        assert run["time"] * 1000 >= sum(b["billed_ms"] for b in run["batches"]) + TIMEOUT_S * 1000
    api.terminate()


@pytest.mark.parametrize("service", SERVICES)
def test_every_worker_hung_fails_run_cleanly(api: ApiServer, service: str) -> None:
    resources = fresh_scale(api, service)
    runs_before = len(api.get("/v1/runs").json()["items"])
    audit_before = api.get("/get_audit").json()
    for resource in resources:
        psutil.Process(resource["pid"]).suspend()

    response = analyse(api)
    # A compute failure in the one error shape, at the status api/errors.py gives it (5xx).
    assert response.status_code == status_of(ComputeError("")) >= 500, response.text
    error = response.json()["error"]
    assert error["code"] == ComputeError.code
    assert "failed on every resource it was tried on" in error["message"]

    # The run is failed with the reason, in the runs and, once, in the audit trail.
    runs = api.get("/v1/runs").json()["items"]
    assert len(runs) == runs_before + 1
    failed = runs[-1]
    assert failed["status"] == "failed" and "did not answer within" in failed["error"]
    audit = api.get("/get_audit").json()
    assert audit[: len(audit_before)] == audit_before
    [record] = audit[len(audit_before) :]
    assert (record["run_id"], record["status"]) == (failed["run_id"], "failed")
    assert log_lines(api, "no resource left", f"run={failed['run_id']}")

    # The scale is consistent: ready but with every worker dead, so not warm; a new analysis
    # is refused without a run; it terminates cleanly.
    scale = api.get("/v1/scale").json()
    assert scale["state"] == "ready"
    assert {r["state"] for r in scale["resources"]} == {"dead"}
    assert api.get("/scaled_ready").json() == {"warm": "false"}
    refused = analyse(api)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_warm"
    assert len(api.get("/v1/runs").json()["items"]) == runs_before + 1
    api.terminate()
    assert all(gone(r["pid"]) for r in resources)
    assert not api.workers()
