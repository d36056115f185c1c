"""Dead resources of a ready scale are replaced (SPEC §2), on real worker processes.

A worker is killed (SIGKILL) behind the API's back. SPEC §2: ``/scaled_ready`` is "false" until
the resource is replaced; the replacement has the same index (so it runs the same batches, with
the same numbers), ``/get_warmup_cost`` keeps the original warm-up, and the replacement is
recorded under ``/v1/scale``. ``max_replacements`` bounds how often a scale is repaired, and 0
turns it off.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.server import ApiServer

SERVICES = ["lambda", "ec2"]
ANALYSIS = {"h": "101", "d": "20000", "t": "sell", "p": "7", "seed": "20250211"}


def start_api(home: Path, **env: str) -> ApiServer:
    server = ApiServer(home, env=env)
    server.start()
    return server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_api(Path(tmp_path_factory.mktemp("home")))
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API that replaces at most one resource per scale."""
    server = start_api(
        Path(tmp_path_factory.mktemp("home-limited")), SIGNALRISK_MAX_REPLACEMENTS="1"
    )
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


def scale(api: ApiServer) -> dict[str, Any]:
    body: dict[str, Any] = api.get("/v1/scale").json()
    return body


def fresh_scale(api: ApiServer, service: str, r: int) -> dict[str, Any]:
    if api.get("/scaled_terminated").json()["terminated"] != "true":
        api.terminate()
    api.warm(service, r)
    return scale(api)


def ready(api: ApiServer) -> str:
    return str(api.get("/scaled_ready").json()["warm"])


def wait_until(check: Any, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not {what} within {timeout_s} s"
        time.sleep(0.05)


def kill(resource: dict[str, Any]) -> None:
    """SIGKILL, and wait until the process is dead (a zombie counts): the kill has landed."""
    psutil.Process(resource["pid"]).kill()
    wait_until(lambda: not alive(resource["pid"]), "killed", 5)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def new_workers(api: ApiServer, known: set[int]) -> list[psutil.Process]:
    return [p for p in api.workers() if p.pid not in known]


def run_of(api: ApiServer, body: dict[str, str]) -> dict[str, Any]:
    response = api.post("/analyse", body)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = api.get(f"/v1/runs/{response.json()['run_id']}").json()
    return run


def var_lists(run: dict[str, Any]) -> tuple[list[float], list[float]]:
    return [i["var95"] for i in run["items"]], [i["var99"] for i in run["items"]]


@pytest.mark.parametrize("service", SERVICES)
def test_kill_ready_worker_replaced_with_same_index_and_same_numbers(
    api: ApiServer, service: str
) -> None:
    before = fresh_scale(api, service, 2)
    reference = run_of(api, ANALYSIS)
    warm_cost = api.get("/get_warmup_cost").json()
    victim, survivor = before["resources"]

    kill(victim)
    # The first look sees it dead and starts the replacement; not warm until that is ready.
    assert ready(api) == "false"
    api.wait_for("/scaled_ready", "warm")

    after = scale(api)
    assert (after["scale_id"], after["state"], after["r"]) == (before["scale_id"], "ready", 2)
    [replacement] = after["replacements"]
    new, kept = after["resources"]
    assert kept == survivor  # the survivor is untouched
    assert (new["index"], new["state"]) == (victim["index"], "ready")
    assert new["id"] == replacement["replaced_by"] != victim["id"]
    assert new["pid"] != victim["pid"] and alive(new["pid"])
    assert (replacement["index"], replacement["resource"]) == (victim["index"], victim["id"])
    assert replacement["error"] is None
    assert replacement["died_at"] <= replacement["replaced_at"] <= replacement["ready_at"]
    assert api.get("/get_warmup_cost").json() == warm_cost  # the original warm-up
    # The replacement's warm-up is billed too (Lambda: its warm-up invocation; EC2: the new
    # instance's life): the cost to date's billable time now exceeds the scale's warm-up.
    assert after["warmup"] == before["warmup"]
    assert after["cost_to_date"]["billable_s"] > before["warmup"]["billable_s"]
    assert any(
        "dead resource replaced" in line and victim["id"] in line
        for line in api.log.read_text().splitlines()
    )

    # The replacement runs batch 0 (its index), and the numbers are the same, bit for bit.
    again = run_of(api, ANALYSIS)
    assert again["faults"] == []
    assert [b["resource_id"] for b in again["batches"]] == [new["id"], survivor["id"]]
    assert var_lists(again) == var_lists(reference)

    pids = [new["pid"], survivor["pid"]]
    api.terminate()
    wait_until(lambda: not any(alive(pid) for pid in pids), "rid of every worker")


def test_sole_worker_killed_mid_analysis_fails_run_then_replaced(api: ApiServer) -> None:
    """r = 1: no other worker can take the batch, so the run fails (502); the scale is then
    repaired and the next run gives the numbers of the fault-free one."""
    before = fresh_scale(api, "lambda", 1)
    reference = run_of(api, ANALYSIS)
    [victim] = before["resources"]
    process = psutil.Process(victim["pid"])
    process.suspend()  # it cannot answer: the batch waits on it until it is killed
    answers: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: answers.append(api.post("/analyse", ANALYSIS)))
    caller.start()
    wait_until(lambda: scale(api)["state"] == "analysing", "analysing")
    process.kill()
    caller.join(60)
    [response] = answers
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "compute_error"

    api.wait_for("/scaled_ready", "warm")
    after = scale(api)
    [replacement] = after["replacements"]
    assert replacement["resource"] == victim["id"]
    again = run_of(api, ANALYSIS)
    assert again["batches"][0]["resource_id"] == replacement["replaced_by"]
    assert var_lists(again) == var_lists(reference)
    api.terminate()


def test_replacements_stop_at_max_replacements(limited: ApiServer) -> None:
    api = limited
    before = fresh_scale(api, "ec2", 2)
    first = before["resources"][0]
    kill(first)
    api.wait_for("/scaled_ready", "warm")
    [replacement] = scale(api)["replacements"]
    second = next(r for r in scale(api)["resources"] if r["id"] == replacement["replaced_by"])

    kill(second)  # the limit (1) is reached: this one stays dead
    wait_until(
        lambda: (
            ready(api) == "false"  # a look (a probe) at the resources
            and {r["id"]: r["state"] for r in scale(api)["resources"]}.get(second["id"]) == "dead"
        ),
        "the replacement seen dead",
    )
    for _ in range(5):  # several rounds of progress: still not replaced, not warm
        assert ready(api) == "false"
        time.sleep(0.1)
    after = scale(api)
    assert len(after["replacements"]) == 1
    assert [r["state"] for r in after["resources"]] == ["dead", "ready"]
    assert any(
        "not replaced" in line and "max_replacements = 1" in line
        for line in api.log.read_text().splitlines()
    )
    survivor = after["resources"][1]
    api.terminate()
    wait_until(lambda: not alive(survivor["pid"]), "rid of the survivor")
    assert not api.workers()


def test_replacement_off_leaves_dead_resource_until_terminated(
    tmp_path: Path,
) -> None:
    api = start_api(tmp_path / "home", SIGNALRISK_MAX_REPLACEMENTS="0")
    try:
        before = fresh_scale(api, "lambda", 2)
        victim, survivor = before["resources"]
        kill(victim)
        wait_until(lambda: ready(api) == "false", "not warm")
        for _ in range(5):
            assert ready(api) == "false"
            time.sleep(0.1)
        after = scale(api)
        assert after["replacements"] == []
        assert {r["id"]: r["state"] for r in after["resources"]} == {
            victim["id"]: "dead",
            survivor["id"]: "ready",
        }
        api.terminate()
        assert not alive(survivor["pid"])
    finally:
        api.stop()


@pytest.mark.parametrize("service", SERVICES)
def test_replacement_not_ready_by_deadline_is_stopped_and_replaced_again(
    tmp_path: Path, service: str
) -> None:
    """A replacement that never answers (frozen with SIGSTOP as it boots) is stopped at the
    warm-up deadline, alone (the rest of the scale is untouched), counted dead, and replaced
    in turn."""
    api = start_api(tmp_path / "home", SIGNALRISK_WARMUP_DEADLINE_S="2")
    try:
        before = fresh_scale(api, service, 2)
        victim, survivor = before["resources"]
        known = {p.pid for p in api.workers()}
        kill(victim)
        assert ready(api) == "false"  # seen dead: its replacement is launched
        # Frozen as it boots, before it can answer (its interpreter takes longer to start).
        wait_until(lambda: bool(new_workers(api, known)), "the replacement's process started")
        [frozen] = new_workers(api, known)
        frozen.suspend()
        [first] = scale(api)["replacements"]
        booting = next(r for r in scale(api)["resources"] if r["id"] == first["replaced_by"])
        assert booting["state"] == "starting"

        api.wait_for("/scaled_ready", "warm", timeout_s=30)
        after = scale(api)
        first, second = after["replacements"]
        assert (first["resource"], second["resource"]) == (victim["id"], booting["id"])
        assert first["ready_at"] is None  # the frozen one never became ready
        assert second["replaced_at"] - first["replaced_at"] >= 2.0  # not before its deadline
        assert after["resources"][0]["id"] == second["replaced_by"]
        assert after["resources"][1] == survivor and alive(survivor["pid"])
        wait_until(lambda: not alive(frozen.pid), "the frozen replacement stopped", 10)
        assert any(
            "replacement not ready within 2 s" in line for line in api.log.read_text().splitlines()
        )
        api.terminate()
    finally:
        api.stop()


def test_failed_replacement_launch_is_shown_and_launched_again_at_a_heartbeat(
    tmp_path: Path,
) -> None:
    """The launch of a replacement fails for real: the local workers' log directory is made
    immutable (``chattr +i``, which binds root too), so a new worker cannot be started. The
    error is shown on the replacement and the index is left without a resource; once the
    directory accepts files again, the next heartbeat launches the replacement."""
    if subprocess.run(["which", "chattr"], capture_output=True).returncode:
        pytest.skip("chattr is not installed")
    home = tmp_path / "home"
    api = start_api(home, SIGNALRISK_HEARTBEAT_INTERVAL_S="0.5")
    logs = home / "logs"
    try:
        before = fresh_scale(api, "lambda", 2)
        victim, survivor = before["resources"]
        subprocess.run(["chattr", "+i", str(logs)], check=True)
        try:
            kill(victim)
            assert ready(api) == "false"
            wait_until(lambda: len(scale(api)["replacements"]) == 1, "a replacement claimed")
            [failed] = scale(api)["replacements"]
            assert failed["resource"] == victim["id"] and failed["replaced_by"] is None
            assert "Permission" in (failed["error"] or ""), failed
            assert [r["id"] for r in scale(api)["resources"]] == [survivor["id"]]
            # Polled fast for 1.5 s: still not warm, nothing started, and the launch is tried
            # again once per heartbeat interval (0.5 s), not at every look.
            polls = 0
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                assert ready(api) == "false"
                polls += 1
                time.sleep(0.02)
            attempts = [
                line
                for line in api.log.read_text().splitlines()
                if "replacement launch failed" in line
            ]
            assert polls >= 20 and 2 <= len(attempts) <= 6, (polls, len(attempts))
            assert {p.pid for p in api.workers()} == {survivor["pid"]}
        finally:
            subprocess.run(["chattr", "-i", str(logs)], check=True)
        api.wait_for("/scaled_ready", "warm")
        [replacement] = scale(api)["replacements"]
        assert replacement["resource"] == victim["id"] and replacement["error"] is None
        new, kept = scale(api)["resources"]
        assert (new["id"], new["index"], kept) == (replacement["replaced_by"], 0, survivor)
        api.terminate()
    finally:
        api.stop()
