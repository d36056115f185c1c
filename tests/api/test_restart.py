"""The API keeps its state in the database, not in memory (SPEC §6).

Kill -9 and restart the API between calls of the workflow and every endpoint answers the same;
workers still alive are found again, dead ones reported as such. On Ctrl-C the local workers
stop with the service and the state says so.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

import httpx
import psutil
import pytest

from signalrisk.seedclient import RESULTS
from tests.server import ApiServer

SERVICES = ["lambda", "ec2"]
ANALYSIS = {"h": "101", "d": "2000", "t": "sell", "p": "7"}
WARM_PATHS = ("/scaled_ready", "/get_warmup_cost", "/get_endpoints", "/scaled_terminated")
RESULT_PATHS = RESULTS
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def answers(api: ApiServer, paths: tuple[str, ...]) -> dict[str, tuple[int, Any]]:
    """Status and body of a GET of every path."""
    out = {}
    for path in paths:
        response = api.get(path)
        out[path] = (response.status_code, response.json())
    return out


def restart(api: ApiServer) -> None:
    """kill -9, then a new API process on the same home directory and port."""
    api.kill()
    api.start()


def scale(api: ApiServer) -> dict[str, Any]:
    body: dict[str, Any] = api.get("/v1/scale").json()
    return body


def worker_identity(api: ApiServer) -> dict[str, tuple[int, float]]:
    """Resource id -> (pid, process create time) of every resource of the current scale."""
    out = {}
    for resource in scale(api)["resources"]:
        pid = resource["pid"]
        out[resource["id"]] = (pid, psutil.Process(pid).create_time())
    return out


def still_running(pid: int, created: float) -> bool:
    try:
        process = psutil.Process(pid)
        return process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(identity: dict[str, tuple[int, float]], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(still_running(*pc) for pc in identity.values()):
        assert time.monotonic() < deadline, "workers still running"
        time.sleep(0.05)


def audit_objects(api: ApiServer) -> dict[str, dict[str, Any]]:
    """Every audit object in the local store, parsed: none half-written, no temporary left."""
    root = api.home / "store"
    leftovers = [p for p in root.rglob("*") if p.name.startswith(".tmp-")]
    assert not leftovers, f"half-written objects: {leftovers}"
    return {
        p.relative_to(root).as_posix(): json.loads(p.read_text())
        for p in sorted((root / "audit").glob("*.json"))
    }


def chart_png(api: ApiServer) -> bytes:
    url = api.get("/get_chart_url").json()["url"]
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(url, timeout=30)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("service", SERVICES)
def test_restart_api_after_kill_answers_same_through_workflow(
    fresh_api: ApiServer, service: str
) -> None:
    api = fresh_api
    api.warm(service, 3)
    warm = answers(api, WARM_PATHS)
    assert warm["/scaled_ready"] == (200, {"warm": "true"})
    workers = worker_identity(api)
    assert len(workers) == 3

    # Warm: the restarted API finds the same workers, ready, with the same cost and endpoints.
    restart(api)
    assert answers(api, WARM_PATHS) == warm
    assert worker_identity(api) == workers
    assert all(r["state"] == "ready" for r in scale(api)["resources"])
    assert api.get("/get_sig_vars9599").json()["error"]["code"] == "no_analysis"

    # Analysed: every result endpoint answers exactly the same, and the chart still loads.
    response = api.post("/analyse", {**ANALYSIS, "seed": "2024"})
    assert response.status_code == 200, response.text
    results = answers(api, RESULT_PATHS)
    assert all(status == 200 for status, _ in results.values()), results
    restart(api)  # quite possibly before the chart was drawn: it must load all the same
    assert answers(api, RESULT_PATHS) == results
    assert answers(api, WARM_PATHS) == warm
    assert chart_png(api).startswith(PNG_MAGIC)

    # Analyse again after the restart: it runs on the very same worker processes.
    response = api.post("/analyse", {**ANALYSIS, "seed": "2024"})
    assert response.status_code == 200, response.text
    batches = api.get("/v1/runs/last").json()["batches"]
    assert {b["pid"] for b in batches} == {pid for pid, _ in workers.values()}
    assert worker_identity(api) == workers
    again = answers(api, RESULT_PATHS)
    assert again["/get_sig_vars9599"] == results["/get_sig_vars9599"]  # same seed, same numbers
    assert len(again["/get_audit"][1]) == len(results["/get_audit"][1]) + 1

    # Reset, then terminate: both survive a restart too.
    assert api.get("/reset").json()["result"] == "ok"
    api.terminate()
    wait_gone(workers)
    restart(api)
    assert api.get("/get_sig_vars9599").json()["error"]["code"] == "no_analysis"
    assert api.get("/get_audit").json() == again["/get_audit"][1]
    assert api.get("/scaled_terminated").json() == {"terminated": "true"}
    assert api.get("/scaled_ready").json() == {"warm": "false"}
    assert api.get("/get_endpoints").json() == {}
    assert scale(api)["state"] == "cold"
    assert not api.workers()


@pytest.mark.parametrize("service", SERVICES)
def test_restart_api_replaces_worker_killed_while_down_and_terminates(
    fresh_api: ApiServer, service: str
) -> None:
    api = fresh_api
    api.warm(service, 2)
    assert api.post("/analyse", {**ANALYSIS, "seed": "7"}).status_code == 200
    before = api.get("/get_sig_vars9599").json()
    warm_cost = api.get("/get_warmup_cost").json()
    workers = worker_identity(api)
    victim, survivor = scale(api)["resources"]

    api.kill()
    os.kill(victim["pid"], signal.SIGKILL)
    api.start()

    # The restarted API's first look (its driver's, at start-up) finds the victim dead and
    # replaces it (SPEC §2); the survivor is the same process throughout.
    api.wait_for("/scaled_ready", "warm")
    view = scale(api)
    [replacement] = view["replacements"]
    assert (replacement["resource"], replacement["index"]) == (victim["id"], victim["index"])
    new, kept = view["resources"]
    assert (new["id"], new["index"]) == (replacement["replaced_by"], victim["index"])
    assert kept["id"] == survivor["id"]
    assert api.get("/get_warmup_cost").json() == warm_cost  # the original warm-up
    assert still_running(*workers[survivor["id"]])
    # The new worker runs the dead one's batch: the streams follow the index, not the worker.
    response = api.post("/analyse", {**ANALYSIS, "seed": "7"})
    assert response.status_code == 200, response.text
    assert api.get("/get_sig_vars9599").json() == before
    workers = worker_identity(api)

    # Killed again right after /terminate: the restarted API finishes the termination.
    assert api.get("/terminate").json()["result"] == "ok"
    restart(api)
    api.wait_for("/scaled_terminated", "terminated", timeout_s=20)
    wait_gone(workers)
    assert scale(api)["state"] == "cold"
    assert not api.workers()


@pytest.mark.parametrize("service", SERVICES)
def test_restart_api_killed_during_warmup_completes_without_leaks(
    fresh_api: ApiServer, service: str
) -> None:
    api = fresh_api
    response = api.post("/warmup", {"s": service, "r": "2"})
    assert response.status_code == 200, response.text
    api.kill()  # right after the warm-up started, before it could be seen ready
    killed_at = time.time()
    launched = {str(p.pid): (p.pid, p.create_time()) for p in api.workers()}
    api.start()
    deadline = time.monotonic() + 30
    while True:
        ready = api.get("/scaled_ready").json()["warm"] == "true"
        state = scale(api)["state"]
        if ready or state == "failed" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ready or state == "failed", f"warm-up neither completed nor failed: {scale(api)}"
    if ready:
        assert scale(api)["ready_at"] > killed_at  # the restarted API completed it
        assert api.get("/get_warmup_cost").json()["billable_time"] > 0
        assert len(api.get("/get_endpoints").json()) == (1 if service == "lambda" else 2)
        assert len(scale(api)["resources"]) == 2
        # Every worker that runs is one of the scale's recorded resources: none leaked.
        recorded = {r["pid"] for r in scale(api)["resources"]}
        assert {p.pid for p in api.workers()} <= recorded
    assert api.get("/get_audit").json() == [] and audit_objects(api) == {}  # no run, no record
    api.terminate()
    wait_gone(launched)
    assert not api.workers()


@pytest.mark.parametrize("service", SERVICES)
def test_interrupt_api_stops_workers_and_records_cold(fresh_api: ApiServer, service: str) -> None:
    api = fresh_api
    api.warm(service, 2)
    workers = worker_identity(api)
    assert all(still_running(*pc) for pc in workers.values())
    assert api.post("/analyse", ANALYSIS).status_code == 200
    results = answers(api, RESULT_PATHS)

    assert api.interrupt() == 0
    assert not any(still_running(*pc) for pc in workers.values())
    assert not api.workers()

    api.start()
    assert scale(api)["state"] == "cold"
    assert answers(api, RESULT_PATHS) == results  # the last analysis outlives its workers
    assert api.get("/scaled_terminated").json() == {"terminated": "true"}
    assert api.get("/scaled_ready").json() == {"warm": "false"}
    assert api.get("/get_endpoints").json() == {}
    # A new warm-up works, on new workers.
    api.warm(service, 2)
    assert not set(worker_identity(api).values()) & set(workers.values())
    api.terminate()
    assert not api.workers()


@pytest.mark.parametrize("service", SERVICES)
def test_restart_api_killed_during_analysis_recovers_scale(
    fresh_api: ApiServer, service: str
) -> None:
    """A crash mid-analysis must not leave the scale 'analysing' (409 busy) for ever: after the
    restart the scale is ready on the same workers, the run failed (once, in the runs and in
    the audit trail, with the reason), and no result or half-written record is left."""
    api = fresh_api
    api.warm(service, 2)
    assert api.post("/analyse", {**ANALYSIS, "seed": "5"}).status_code == 200
    before = answers(api, RESULT_PATHS)
    workers = worker_identity(api)
    outcome: list[object] = []

    def analyse() -> None:
        try:
            outcome.append(api.post("/analyse", {**ANALYSIS, "d": "10000000"}).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=analyse)
    caller.start()
    deadline = time.monotonic() + 20
    while scale(api)["state"] != "analysing":
        assert time.monotonic() < deadline and not outcome, outcome
        time.sleep(0.01)
    api.kill()
    caller.join(30)
    assert outcome and isinstance(outcome[0], httpx.HTTPError)  # it died under the call
    api.start()
    try:
        deadline = time.monotonic() + 5
        while scale(api)["state"] == "analysing" and time.monotonic() < deadline:
            time.sleep(0.1)
        # The scale is known: ready again, on the very same workers.
        assert scale(api)["state"] == "ready"
        assert worker_identity(api) == workers
        assert api.get("/scaled_ready").json() == {"warm": "true"}
        # The interrupted run is recorded as failed, once, in the runs and in the audit trail.
        runs = api.get("/v1/runs").json()["items"]
        assert [r["status"] for r in runs] == ["ok", "failed"]
        interrupted = api.get(f"/v1/runs/{runs[-1]['run_id']}").json()
        assert interrupted["status"] == "failed" and "stopped" in interrupted["error"]
        assert interrupted["finished_at"] is not None and interrupted["av95"] is None
        audit = api.get("/get_audit").json()
        assert audit[:-1] == before["/get_audit"][1]
        assert [a["run_id"] for a in audit].count(interrupted["run_id"]) == 1
        assert audit[-1]["run_id"] == interrupted["run_id"]
        assert (audit[-1]["status"], audit[-1]["error"]) == ("failed", interrupted["error"])
        assert audit[-1]["d"] == 10000000 and audit[-1]["av95"] is None
        assert list(audit_objects(api).values()) == audit  # whole objects, nothing else
        # The last successful analysis is still the one reported.
        assert answers(api, RESULT_PATHS) == {**before, "/get_audit": (200, audit)}
        api.terminate()
        wait_gone(workers, timeout_s=30)
        assert scale(api)["state"] == "cold"
    finally:
        api.stop()
        for pid, created in workers.values():  # if the API could not terminate them
            if still_running(pid, created):
                os.kill(pid, signal.SIGKILL)
