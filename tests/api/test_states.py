"""Every row of SPEC §2's state table, for every state, over HTTP against a real API process.

The states are put in place for real, with no test-only code in the service: the workers are real
local processes, so a test freezes them (SIGSTOP) to hold a scale where it is.

- warming: POST /warmup, then stop its workers at once so that they cannot answer;
- analysing: warm a scale, stop its workers, start POST /analyse in a thread (it blocks on them);
- terminating: stop the workers of a ready scale, then /terminate (SIGTERM stays pending);
- failed: a server with a 2 s warm-up deadline, whose warming workers are stopped past it.

Races between requests are made certain by holding the API's database write lock (as a second
API instance mid-write would) while the requests are sent: they all read the same state first.

Stopped processes are always resumed in a ``finally``; each test leaves the scale cold and no
worker of the server's home behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from signalrisk.compute.localproc import find_workers
from tests.server import ApiServer, sqlite_write_lock

SMALL = {"h": "101", "d": "2000", "t": "sell", "p": "7"}
SHORT_DEADLINE_S = 2.0
OTHER = {  # (s, r) of a scale -> another s or another r
    "other_s": lambda s, r: ("ec2" if s == "lambda" else "lambda", r),
    "other_r": lambda s, r: (s, r + 1),
}


# -- helpers -----------------------------------------------------------------------------------


def scale(api: ApiServer) -> dict[str, Any]:
    response = api.get("/v1/scale")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def state(api: ApiServer) -> str:
    return str(scale(api)["state"])


def flag(api: ApiServer, path: str, key: str) -> str:
    response = api.get(path)
    assert response.status_code == 200, response.text
    return str(response.json()[key])


def warmup(api: ApiServer, service: str, r: int) -> httpx.Response:
    return api.post("/warmup", {"s": service, "r": str(r)})


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code, response.text


def assert_ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["result"] == "ok"
    return body


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not {what} within {timeout_s} s")


def workers_of(scale_id: str) -> list[psutil.Process]:
    return find_workers(scale_id)


def is_gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def all_gone(procs: list[psutil.Process]) -> bool:
    return all(is_gone(p) for p in procs)


def suspend(procs: list[psutil.Process]) -> None:
    for proc in procs:
        proc.suspend()


def resume(procs: list[psutil.Process]) -> None:
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            proc.resume()


def resume_all(api: ApiServer) -> None:
    resume(api.workers())


def make_cold(api: ApiServer) -> None:
    """Resume whatever is stopped, scale down and wait until no worker of this home is left."""
    resume_all(api)
    if state(api) == "analysing":
        wait_until(lambda: state(api) != "analysing", "done analysing")
    assert api.get("/terminate").status_code == 200
    api.wait_for("/scaled_terminated", "terminated", timeout_s=15)
    wait_until(lambda: not api.workers(), "rid of every worker")
    assert state(api) == "cold"


@contextmanager
def warming_scale(
    api: ApiServer, service: str, r: int
) -> Iterator[tuple[str, list[psutil.Process]]]:
    """A scale held in ``warming``: its workers are stopped before they could answer.

    Local workers start in a fraction of a second, so the warm-up may win the race; then it is
    scaled down and tried again, up to three times.
    """
    for _attempt in range(3):
        body = assert_ok(warmup(api, service, r))
        assert body["state"] == "warming"
        scale_id = str(body["scale_id"])
        procs = workers_of(scale_id)
        suspend(procs)
        try:
            time.sleep(0.2)  # a probe answered just before the stop has time to record it
            view = scale(api)
            held = (
                len(procs) == r
                and view["scale_id"] == scale_id
                and view["state"] == "warming"
                and all(res["state"] == "starting" for res in view["resources"])
            )
            if held:
                yield scale_id, procs
        finally:
            resume(procs)
        if held:
            return
        make_cold(api)
    pytest.fail("could not stop the workers before the warm-up completed (3 attempts)")


@contextmanager
def ready_scale(api: ApiServer, service: str, r: int) -> Iterator[tuple[str, list[psutil.Process]]]:
    api.warm(service, r)
    view = scale(api)
    assert view["state"] == "ready"
    procs = workers_of(str(view["scale_id"]))
    assert sorted(p.pid for p in procs) == sorted(res["pid"] for res in view["resources"])
    yield str(view["scale_id"]), procs


@contextmanager
def analysing_scale(api: ApiServer, service: str, r: int) -> Iterator[str]:
    """A scale held in ``analysing``: POST /analyse blocks on the stopped workers."""
    answers: dict[str, httpx.Response] = {}

    def analyse() -> None:
        answers["analyse"] = api.post("/analyse", SMALL)

    with ready_scale(api, service, r) as (scale_id, procs):
        suspend(procs)
        thread = threading.Thread(target=analyse, daemon=True)
        try:
            thread.start()
            wait_until(lambda: state(api) == "analysing", "analysing", timeout_s=10)
            yield scale_id
        finally:
            resume(procs)
            thread.join(60)
        assert not thread.is_alive()
        assert answers["analyse"].status_code == 200, answers["analyse"].text
        assert state(api) == "ready"


@contextmanager
def terminating_scale(api: ApiServer, service: str, r: int) -> Iterator[list[psutil.Process]]:
    """A scale held in ``terminating``: the SIGTERM stays pending on the stopped workers."""
    with ready_scale(api, service, r) as (_scale_id, procs):
        suspend(procs)
        try:
            body = assert_ok(api.get("/terminate"))
            assert body["state"] == "terminating"
            yield procs
        finally:
            resume(procs)


@contextmanager
def failed_scale(
    api: ApiServer, service: str, r: int
) -> Iterator[tuple[str, list[psutil.Process]]]:
    """A warm-up whose workers are stopped past the deadline: it becomes ``failed``."""
    with warming_scale(api, service, r) as (scale_id, procs):
        wait_until(lambda: state(api) == "failed", "failed", timeout_s=SHORT_DEADLINE_S + 10)
        yield scale_id, procs


@contextmanager
def database_held(api: ApiServer) -> Iterator[None]:
    """Hold the write lock of the API's database, as a second API instance mid-write would.

    Reads go on (WAL); every write waits (busy timeout) until the block ends, so requests sent
    meanwhile all read the same state before any of them can change it.
    """
    path = api.home / "signalrisk.db"
    if not path.exists():
        pytest.skip("the API does not use the default SQLite database in its home")
    with sqlite_write_lock(path):
        yield


def together(
    api: ApiServer, count: int, send: Callable[[], httpx.Response]
) -> list[httpx.Response]:
    """``count`` copies of one request, sent at once while a writer holds the database."""
    answers: list[httpx.Response] = []

    def go() -> None:
        answers.append(send())

    threads = [threading.Thread(target=go) for _ in range(count)]
    with database_held(api):
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # every request has read the state and waits to write
    for thread in threads:
        thread.join(60)
    assert len(answers) == count
    return answers


def race_terminate_with_analyses(api: ApiServer, procs: list[psutil.Process]) -> bool:
    """One /terminate and five /analyse that all read "ready" before any can write.

    The workers are stopped, so a claimed analysis holds the scale until they are resumed.
    Checks that the answers agree with what happened; returns True if /terminate won.
    """
    answers: dict[str, list[httpx.Response]] = {"analyse": [], "terminate": []}

    def send(kind: str) -> None:
        if kind == "analyse":
            answers[kind].append(api.post("/analyse", SMALL))
        else:
            answers[kind].append(api.get("/terminate"))

    threads = [threading.Thread(target=send, args=(kind,)) for kind in ["analyse"] * 5]
    threads.append(threading.Thread(target=send, args=("terminate",)))
    suspend(procs)
    try:
        with database_held(api):
            for thread in threads:
                thread.start()
            time.sleep(0.5)
        wait_until(lambda: len(answers["terminate"]) == 1, "answered /terminate", 30)
        (terminate,) = answers["terminate"]
        if terminate.status_code == 200:  # it won: the scale goes, no analysis runs
            assert terminate.json()["state"] in ("terminating", "cold"), terminate.text
            assert state(api) in ("terminating", "cold")
            wait_until(lambda: len(answers["analyse"]) == 5, "answered every /analyse", 30)
            assert all(error_code(a) == "not_warm" for a in answers["analyse"])
        else:  # an analysis won: /terminate is refused, the others are busy
            assert_error(terminate, 409, "busy")
            assert state(api) == "analysing"
            wait_until(lambda: len(answers["analyse"]) == 4, "refused the other analyses", 30)
            assert all(error_code(a) == "busy" for a in answers["analyse"])
    finally:
        resume(procs)
        for thread in threads:
            thread.join(60)
    analysed = [a for a in answers["analyse"] if a.status_code == 200]
    assert len(analysed) == (0 if terminate.status_code == 200 else 1)
    return terminate.status_code == 200


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API whose warm-ups fail after 2 s."""
    server = ApiServer(
        Path(tmp_path_factory.mktemp("home-short")),
        env={"SIGNALRISK_WARMUP_DEADLINE_S": str(SHORT_DEADLINE_S)},
    )
    server.start()
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


@pytest.fixture
def cold(api: ApiServer) -> Iterator[ApiServer]:
    """The module's API, cold before the test, and cold with no worker left after it."""
    make_cold(api)
    yield api
    make_cold(api)


@pytest.fixture
def cold_short(short_api: ApiServer) -> Iterator[ApiServer]:
    make_cold(short_api)
    yield short_api
    make_cold(short_api)


# -- cold ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["same", "other_s", "other_r"])
def test_warmup_cold_scale_starts_warming(cold: ApiServer, variant: str) -> None:
    with ready_scale(cold, "lambda", 1) as (old_id, _procs):
        pass
    make_cold(cold)  # the last scale was lambda, r=1; now there is none
    service, r = ("lambda", 1) if variant == "same" else OTHER[variant]("lambda", 1)
    body = assert_ok(warmup(cold, service, r))
    assert body["state"] == "warming"
    assert body["scale_id"] != old_id
    cold.wait_for("/scaled_ready", "warm")
    view = scale(cold)
    assert (view["scale_id"], view["service"], view["r"]) == (body["scale_id"], service, r)
    assert len(view["resources"]) == r and all(res["pid"] for res in view["resources"])


def test_warmup_cold_scale_concurrently_starts_one_scale(cold: ApiServer) -> None:
    answers = together(cold, 6, lambda: warmup(cold, "lambda", 1))
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert len({a.json()["scale_id"] for a in answers}) == 1
    view = scale(cold)
    assert view["scale_id"] == answers[0].json()["scale_id"]
    # Every worker started was started for the current scale: none leaked.
    assert sorted(p.pid for p in cold.workers()) == [view["resources"][0]["pid"]]


def test_analyse_cold_scale_not_warm(cold: ApiServer) -> None:
    assert_error(cold.post("/analyse", SMALL), 409, "not_warm")
    assert state(cold) == "cold"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_reset_cold_scale_ok(cold: ApiServer, method: str) -> None:
    assert_ok(httpx.request(method, f"{cold.url}/reset", timeout=30))
    assert state(cold) == "cold"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_terminate_cold_scale_ok(cold: ApiServer, method: str) -> None:
    body = assert_ok(httpx.request(method, f"{cold.url}/terminate", timeout=30))
    assert body["state"] == "cold"
    assert state(cold) == "cold"


def test_poll_cold_scale_terminated_not_ready(cold: ApiServer) -> None:
    assert flag(cold, "/scaled_ready", "warm") == "false"
    assert flag(cold, "/scaled_terminated", "terminated") == "true"
    assert scale(cold)["resources"] == []


# -- warming ------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_warmup_warming_scale_same_is_noop(cold: ApiServer, service: str) -> None:
    with warming_scale(cold, service, 1) as (scale_id, procs):
        body = assert_ok(warmup(cold, service, 1))
        assert body["scale_id"] == scale_id
        assert state(cold) == "warming"
        assert sorted(p.pid for p in cold.workers()) == sorted(p.pid for p in procs)


@pytest.mark.parametrize("variant", ["other_s", "other_r"])
def test_warmup_warming_scale_other_busy(cold: ApiServer, variant: str) -> None:
    with warming_scale(cold, "ec2", 1) as (scale_id, procs):
        service, r = OTHER[variant]("ec2", 1)
        assert_error(warmup(cold, service, r), 409, "busy")
        view = scale(cold)
        assert (view["scale_id"], view["state"]) == (scale_id, "warming")
        assert sorted(p.pid for p in cold.workers()) == sorted(p.pid for p in procs)


def test_analyse_warming_scale_not_warm(cold: ApiServer) -> None:
    with warming_scale(cold, "ec2", 1) as (scale_id, _procs):
        assert_error(cold.post("/analyse", SMALL), 409, "not_warm")
        assert (scale(cold)["scale_id"], state(cold)) == (scale_id, "warming")


def test_reset_warming_scale_ok(cold: ApiServer) -> None:
    with warming_scale(cold, "ec2", 1) as (scale_id, _procs):
        assert_ok(cold.get("/reset"))
        assert (scale(cold)["scale_id"], state(cold)) == (scale_id, "warming")


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_terminate_warming_scale_goes_terminating(cold: ApiServer, service: str) -> None:
    with warming_scale(cold, service, 1) as (_scale_id, procs):
        body = assert_ok(cold.get("/terminate"))
        assert body["state"] == "terminating"
        assert state(cold) == "terminating"
        assert flag(cold, "/scaled_terminated", "terminated") == "false"
        resume(procs)  # the pending SIGTERM ends them
        cold.wait_for("/scaled_terminated", "terminated")
        assert all_gone(procs)
        assert state(cold) == "cold"


def test_poll_warming_scale_neither_ready_nor_terminated(cold: ApiServer) -> None:
    with warming_scale(cold, "ec2", 1):
        assert flag(cold, "/scaled_ready", "warm") == "false"
        assert flag(cold, "/scaled_terminated", "terminated") == "false"
        assert_error(cold.get("/get_warmup_cost"), 409, "not_warm")
        assert state(cold) == "warming"


# -- ready --------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_warmup_ready_scale_same_is_noop(cold: ApiServer, service: str) -> None:
    with ready_scale(cold, service, 2) as (scale_id, procs):
        cost = cold.get("/get_warmup_cost").json()
        body = assert_ok(warmup(cold, service, 2))
        assert body["scale_id"] == scale_id
        view = scale(cold)
        assert (view["scale_id"], view["state"]) == (scale_id, "ready")
        assert sorted(res["pid"] for res in view["resources"]) == sorted(p.pid for p in procs)
        assert not any(is_gone(p) for p in procs)
        assert flag(cold, "/scaled_ready", "warm") == "true"
        assert cold.get("/get_warmup_cost").json() == cost


@pytest.mark.parametrize("variant", ["other_s", "other_r"])
def test_warmup_ready_scale_other_replaces_without_leak(cold: ApiServer, variant: str) -> None:
    with ready_scale(cold, "lambda", 2) as (old_id, old_procs):
        service, r = OTHER[variant]("lambda", 2)
        body = assert_ok(warmup(cold, service, r))
        assert body["scale_id"] != old_id
        wait_until(lambda: all_gone(old_procs), "rid of the old scale's workers")
        cold.wait_for("/scaled_ready", "warm")
        view = scale(cold)
        assert (view["scale_id"], view["service"], view["r"]) == (body["scale_id"], service, r)
        new_pids = sorted(res["pid"] for res in view["resources"])
        wait_until(
            lambda: sorted(p.pid for p in cold.workers()) == new_pids,
            "left with only the new scale's workers",
        )


def test_warmup_ready_scale_concurrently_replaces_once(cold: ApiServer) -> None:
    with ready_scale(cold, "lambda", 1) as (old_id, old_procs):
        answers = together(cold, 6, lambda: warmup(cold, "ec2", 1))
        for answer in answers:
            assert answer.status_code in (200, 409), answer.text
            if answer.status_code == 409:
                assert error_code(answer) == "busy"
        started = {a.json()["scale_id"] for a in answers if a.status_code == 200}
        assert len(started) == 1 and old_id not in started
        wait_until(lambda: all_gone(old_procs), "rid of the old scale's workers")
        cold.wait_for("/scaled_ready", "warm")
        view = scale(cold)
        assert view["scale_id"] in started
        assert sorted(p.pid for p in cold.workers()) == [view["resources"][0]["pid"]]


def test_analyse_ready_scale_runs_and_returns_to_ready(cold: ApiServer) -> None:
    with ready_scale(cold, "ec2", 2) as (scale_id, _procs):
        audit_before = len(cold.get("/get_audit").json())
        assert_ok(cold.post("/analyse", SMALL))
        view = scale(cold)
        assert (view["scale_id"], view["state"]) == (scale_id, "ready")
        last = cold.get("/v1/runs/last").json()
        assert last["status"] == "ok" and last["request"]["r"] == 2
        assert len(cold.get("/get_audit").json()) == audit_before + 1
        assert flag(cold, "/scaled_ready", "warm") == "true"


def test_reset_ready_scale_keeps_scale(cold: ApiServer) -> None:
    with ready_scale(cold, "lambda", 1) as (scale_id, procs):
        assert_ok(cold.post("/analyse", SMALL))
        assert cold.get("/get_tot_profit_loss").status_code == 200
        assert_ok(cold.get("/reset"))
        assert_error(cold.get("/get_tot_profit_loss"), 409, "no_analysis")
        view = scale(cold)
        assert (view["scale_id"], view["state"]) == (scale_id, "ready")
        assert not any(is_gone(p) for p in procs)
        assert flag(cold, "/scaled_ready", "warm") == "true"
        assert cold.get("/get_warmup_cost").status_code == 200


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_terminate_ready_scale_goes_terminating(cold: ApiServer, service: str) -> None:
    with ready_scale(cold, service, 2) as (_scale_id, procs):
        body = assert_ok(cold.post("/terminate"))
        assert body["state"] == "terminating"
        cold.wait_for("/scaled_terminated", "terminated")
        assert all_gone(procs)
        assert state(cold) == "cold"
        assert flag(cold, "/scaled_ready", "warm") == "false"
        assert_error(cold.post("/analyse", SMALL), 409, "not_warm")


def test_poll_ready_scale_ready_not_terminated(cold: ApiServer) -> None:
    with ready_scale(cold, "ec2", 1):
        assert flag(cold, "/scaled_ready", "warm") == "true"
        assert flag(cold, "/scaled_terminated", "terminated") == "false"
        assert state(cold) == "ready"


# A resource that dies while ready: /scaled_ready is "false" until it is replaced or the scale
# is terminated; see test_replacement.py.


def test_terminate_ready_scale_racing_analysis_never_drops_it(cold: ApiServer) -> None:
    for _round in range(3):
        with ready_scale(cold, "lambda", 1) as (scale_id, procs):
            if race_terminate_with_analyses(cold, procs):
                cold.wait_for("/scaled_terminated", "terminated")
                assert all_gone(procs)
            else:
                assert (scale(cold)["scale_id"], state(cold)) == (scale_id, "ready")
                assert not any(is_gone(p) for p in procs)
        make_cold(cold)


# -- analysing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_change_analysing_scale_busy(cold: ApiServer, service: str) -> None:
    with analysing_scale(cold, service, 1) as scale_id:
        calls = {
            "warmup same": lambda: warmup(cold, service, 1),
            "warmup other s": lambda: warmup(cold, *OTHER["other_s"](service, 1)),
            "warmup other r": lambda: warmup(cold, *OTHER["other_r"](service, 1)),
            "analyse": lambda: cold.post("/analyse", SMALL),
            "reset": lambda: cold.get("/reset"),
            "reset (POST)": lambda: cold.post("/reset"),
            "terminate": lambda: cold.get("/terminate"),
            "terminate (POST)": lambda: cold.post("/terminate"),
        }
        for call, send in calls.items():
            response = send()
            assert response.status_code == 409, (call, response.text)
            assert error_code(response) == "busy", (call, response.text)
            view = scale(cold)
            assert (view["scale_id"], view["state"]) == (scale_id, "analysing"), call
        assert len(cold.workers()) == 1


def test_poll_analysing_scale_ready_not_terminated(cold: ApiServer) -> None:
    with analysing_scale(cold, "lambda", 2):
        assert flag(cold, "/scaled_ready", "warm") == "true"
        assert flag(cold, "/scaled_terminated", "terminated") == "false"
        assert state(cold) == "analysing"
    assert cold.get("/v1/runs/last").json()["status"] == "ok"


# -- terminating --------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_call_terminating_scale_per_state_table(cold: ApiServer, service: str) -> None:
    with terminating_scale(cold, service, 1) as procs:
        for other in ((service, 1), OTHER["other_s"](service, 1), OTHER["other_r"](service, 1)):
            assert_error(warmup(cold, *other), 409, "busy")
        assert_error(cold.post("/analyse", SMALL), 409, "not_warm")
        assert_ok(cold.get("/reset"))
        assert assert_ok(cold.get("/terminate"))["state"] == "terminating"
        assert flag(cold, "/scaled_ready", "warm") == "false"
        assert flag(cold, "/scaled_terminated", "terminated") == "false"
        assert state(cold) == "terminating"
        assert len(cold.workers()) == 1
        resume(procs)  # the pending SIGTERM ends them
        cold.wait_for("/scaled_terminated", "terminated")
        assert all_gone(procs)
        assert state(cold) == "cold"


# -- failed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_call_failed_scale_per_state_table(cold_short: ApiServer, service: str) -> None:
    api = cold_short
    with failed_scale(api, service, 1) as (scale_id, procs):
        view = scale(api)
        assert view["scale_id"] == scale_id and "not ready within" in view["error"]
        assert_error(api.post("/analyse", SMALL), 409, "not_warm")
        assert_ok(api.get("/reset"))
        assert_error(api.get("/get_warmup_cost"), 409, "not_warm")
        assert api.get("/get_endpoints").json() == {}
        assert flag(api, "/scaled_ready", "warm") == "false"
        assert flag(api, "/scaled_terminated", "terminated") == "false"
        assert state(api) == "failed"
        resume(procs)  # the failed warm-up already terminated them: the SIGTERM was pending
        api.wait_for("/scaled_terminated", "terminated")
        assert all_gone(procs)
        assert flag(api, "/scaled_ready", "warm") == "false"
        assert state(api) == "failed"


@pytest.mark.parametrize("variant", ["same", "other_s"])
def test_warmup_failed_scale_starts_again(cold_short: ApiServer, variant: str) -> None:
    api = cold_short
    with failed_scale(api, "ec2", 1) as (old_id, old_procs):
        service, r = ("ec2", 1) if variant == "same" else OTHER[variant]("ec2", 1)
        body = assert_ok(warmup(api, service, r))
        assert body["state"] == "warming" and body["scale_id"] != old_id
        resume(old_procs)
        wait_until(lambda: all_gone(old_procs), "rid of the failed scale's workers")
        api.wait_for("/scaled_ready", "warm")
        view = scale(api)
        assert (view["scale_id"], view["service"], view["r"]) == (body["scale_id"], service, r)
        assert len(api.workers()) == r


def test_terminate_failed_scale_goes_terminating(cold_short: ApiServer) -> None:
    api = cold_short
    with failed_scale(api, "ec2", 1) as (_scale_id, procs):
        assert assert_ok(api.get("/terminate"))["state"] == "terminating"
        assert state(api) == "terminating"
        assert flag(api, "/scaled_terminated", "terminated") == "false"
        resume(procs)
        api.wait_for("/scaled_terminated", "terminated")
        assert all_gone(procs)
        assert state(api) == "cold"
