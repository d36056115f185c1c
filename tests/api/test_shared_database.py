"""Two API processes on one database answer as one service (SPEC §2 states, SPEC §6 state).

Both processes serve the same deployment: the same home (the local platform's "account": its
EC2-like instance records and its audit directory; with homes of their own, one API finds the
other's local instances missing and records them dead) and the same database, once SQLite in
the home and once a real PostgreSQL server (``SIGNALRISK_DATABASE_URL``). They are started
together, so that they also migrate a new database at the same time.

Requests sent to both at once resolve as the state table says: one warm-up or one analysis
proceeds, the others get 409; afterwards both report the same scale and the same results.
Races are made certain as in ``test_states``: a writer holds the database while the requests
are sent, so every request reads the same state before any of them can change it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from signalrisk.seedclient import RESULTS
from tests.infra.postgres import PostgresServer
from tests.server import ApiServer, sqlite_write_lock

SMALL = {"h": "101", "d": "2000", "t": "sell", "p": "7", "seed": "11"}
TABLES = "control, scales, resources, runs"


class Pair:
    """Two API processes of one deployment, and how to hold their database."""

    def __init__(self, kind: str, home: Path, database: str | None) -> None:
        self.kind = kind
        self.home = home
        self.database = database  # the PostgreSQL database name, or None for SQLite
        self.postgres: PostgresServer | None = None
        self.apis: list[ApiServer] = []

    @property
    def a(self) -> ApiServer:
        return self.apis[0]

    @property
    def b(self) -> ApiServer:
        return self.apis[1]

    def scales(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        """The database's rows of these scales, by id (read behind the APIs' backs)."""
        names = ("id", "service", "state", "requested_at", "ready_at")
        listed = ", ".join(f"'{i}'" for i in sorted(ids))  # hex ids made by the API
        sql = f"SELECT {', '.join(names)} FROM scales WHERE id IN ({listed})"
        if self.postgres is None:
            with closing(sqlite3.connect(self.home / "signalrisk.db")) as connection:
                rows = connection.execute(sql).fetchall()
        else:
            assert self.database is not None
            rows = self.postgres.execute(sql, self.database)
        return {row[0]: dict(zip(names, row, strict=True)) for row in rows}

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the database's write lock, as an API mid-write would: reads go on, every
        write waits until the block ends."""
        if self.postgres is None:
            with sqlite_write_lock(self.home / "signalrisk.db"):
                yield
            return
        import psycopg

        port, name = self.postgres.port, self.database
        conninfo = f"host=127.0.0.1 port={port} user=postgres dbname={name}"
        with psycopg.connect(conninfo, connect_timeout=5) as connection:
            # EXCLUSIVE lets plain reads through and makes every INSERT/UPDATE wait.
            connection.execute(f"LOCK TABLE {TABLES} IN EXCLUSIVE MODE")
            try:
                yield
            finally:
                connection.rollback()


# -- helpers -------------------------------------------------------------------------------------


def scale(api: ApiServer) -> dict[str, Any]:
    response = api.get("/v1/scale")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def comparable(view: dict[str, Any]) -> dict[str, Any]:
    """A scale view without what changes by the second (the running cost)."""
    return {k: v for k, v in view.items() if k != "cost_to_date"}


def flag(api: ApiServer, path: str, key: str) -> str:
    response = api.get(path)
    assert response.status_code == 200, response.text
    return str(response.json()[key])


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not {what} within {timeout_s} s")


def warmup(api: ApiServer, service: str, r: int) -> httpx.Response:
    return api.post("/warmup", {"s": service, "r": str(r)})


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def together(
    pair: Pair, sends: list[Callable[[], httpx.Response]], until: int | None = None
) -> list[httpx.Response | None]:
    """Send every request at once while the database is held; their answers, in order.

    With ``until``, return as soon as that many have answered (the others' are None, and go on
    in the background); otherwise wait for all.
    """
    answers: list[httpx.Response | None] = [None] * len(sends)

    def go(index: int) -> None:
        answers[index] = sends[index]()

    threads = [threading.Thread(target=go, args=(n,), daemon=True) for n in range(len(sends))]
    with pair.held():
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # every request has read the state and waits to write
    if until is None:
        for thread in threads:
            thread.join(120)
        assert all(answer is not None for answer in answers)
    else:
        wait_until(lambda: sum(a is not None for a in answers) >= until, f"{until} answered", 60)
    return answers


def answered(answers: list[httpx.Response | None]) -> list[httpx.Response]:
    return [answer for answer in answers if answer is not None]


def workers(pair: Pair) -> list[psutil.Process]:
    """Worker processes of the shared home (either API may have started them)."""
    return pair.a.workers()


def make_cold(pair: Pair) -> None:
    for proc in workers(pair):
        with suppress(psutil.NoSuchProcess):
            proc.resume()
    wait_until(lambda: scale(pair.a)["state"] != "analysing", "done analysing")
    assert pair.a.get("/terminate").status_code == 200
    for api in pair.apis:
        api.wait_for("/scaled_terminated", "terminated", timeout_s=20)
    wait_until(lambda: not workers(pair), "rid of every worker")
    assert {scale(api)["state"] for api in pair.apis} == {"cold"}


def dead(process: psutil.Process) -> bool:
    """Whether ``process`` has ended (a zombie, not yet reaped by the API, counts)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def same_everywhere(pair: Pair) -> dict[str, Any]:
    """The scale both APIs report: they must agree (read again while a write lands between
    the two reads)."""
    views: list[dict[str, Any]] = []

    def agree() -> bool:
        views[:] = [comparable(scale(api)) for api in pair.apis]
        return views[0] == views[1]

    with suppress(AssertionError):
        wait_until(agree, "the same scale on both APIs", timeout_s=5)
    assert views[0] == views[1]
    return views[0]


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    home = Path(tmp_path_factory.mktemp("shared-home"))
    env: dict[str, str] = {}
    shared = Pair(request.param, home, None)
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        shared.postgres, shared.database = server, server.create_database()
        env["SIGNALRISK_DATABASE_URL"] = server.url(shared.database)
    shared.apis = [ApiServer(home, env=env), ApiServer(home, env=env)]
    shared.b.log = home / "api-b.log"
    errors: list[BaseException] = []

    def start(api: ApiServer) -> None:
        try:
            api.start()
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=start, args=(api,)) for api in shared.apis]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == [], errors  # both migrated the new database at once, and came up
        yield shared
    finally:
        for api in shared.apis:
            api.stop()
        if shared.postgres is not None and shared.database is not None:
            shared.postgres.drop_database(shared.database)
    assert not shared.a.workers(), "workers outlived the APIs"


@pytest.fixture
def cold(pair: Pair) -> Iterator[Pair]:
    make_cold(pair)
    yield pair
    make_cold(pair)


# -- tests ---------------------------------------------------------------------------------------


def test_state_lives_in_shared_database(cold: Pair) -> None:
    if cold.kind == "postgresql":
        assert not (cold.home / "signalrisk.db").exists()
        assert cold.postgres is not None and cold.database is not None
        assert cold.postgres.execute("SELECT id FROM control", cold.database) == [(1,)]
    else:
        assert (cold.home / "signalrisk.db").exists()
    assert same_everywhere(cold)["state"] == "cold"


def test_warmup_same_scale_from_both_apis_starts_one(cold: Pair) -> None:
    a, b = cold.a, cold.b
    sends = [lambda api=api: warmup(api, "lambda", 2) for api in (a, b) * 3]
    answers = answered(together(cold, sends))
    assert [x.status_code for x in answers] == [200] * 6, [x.text for x in answers]
    assert len({x.json()["scale_id"] for x in answers}) == 1
    for api in (a, b):
        api.wait_for("/scaled_ready", "warm")
    view = same_everywhere(cold)
    assert (view["scale_id"], view["state"], view["r"]) == (
        answers[0].json()["scale_id"],
        "ready",
        2,
    )
    # Every worker started was started for that one scale: none leaked.
    assert sorted(p.pid for p in workers(cold)) == sorted(r["pid"] for r in view["resources"])
    assert a.get("/get_warmup_cost").json() == b.get("/get_warmup_cost").json()


def test_warmup_different_scales_from_both_apis_one_proceeds_others_busy(cold: Pair) -> None:
    a, b = cold.a, cold.b
    kinds = ["lambda", "ec2"] * 3  # A asks for lambda, B for ec2, three times each
    sends = [lambda: warmup(a, "lambda", 1), lambda: warmup(b, "ec2", 1)] * 3
    answers = answered(together(cold, sends))
    started = [(k, x) for k, x in zip(kinds, answers, strict=True) if x.status_code == 200]
    refused = [(k, x) for k, x in zip(kinds, answers, strict=True) if x.status_code != 200]
    assert started, [x.text for x in answers]
    assert all(x.status_code == 409 and error_code(x) == "busy" for _, x in refused)
    scales = cold.scales({x.json()["scale_id"] for _, x in started})
    for kind, answer in started:  # each 200 names a scale of the kind it asked for
        assert scales[answer.json()["scale_id"]]["service"] == kind
    history = sorted(scales.values(), key=lambda row: row["requested_at"])
    # On a loaded machine a request may reach the database only after the first warm-up is
    # already ready: SPEC §2 then says a different s "replaces: terminates the old scale
    # first". That is the only way to a second scale: the one replaced was ready before the
    # other was asked for, is another kind, and is terminated (never leaked).
    for old, new in pairwise(history):
        assert old["ready_at"] is not None and old["ready_at"] <= new["requested_at"], history
        assert old["service"] != new["service"], history
        assert old["state"] in ("terminating", "terminated"), history
    winner = history[-1]["service"]
    if len(history) == 1:  # every request read the same cold state: one kind proceeds
        assert [k for k, _ in started] == [winner] * 3, [x.text for x in answers]
        assert [k for k, _ in refused] == [k for k in kinds if k != winner]
    for api in (a, b):
        api.wait_for("/scaled_ready", "warm")
    view = same_everywhere(cold)
    assert (view["scale_id"], view["service"]) == (history[-1]["id"], winner)
    wait_until(
        lambda: sorted(p.pid for p in workers(cold)) == [view["resources"][0]["pid"]],
        "only the current scale's worker left",
    )


def test_analyse_from_both_apis_one_runs_others_busy_then_same_results(cold: Pair) -> None:
    a, b = cold.a, cold.b
    a.warm("lambda", 2)
    b.wait_for("/scaled_ready", "warm")
    audit_before = len(a.get("/get_audit").json())
    procs = workers(cold)
    sends = [lambda api=api: api.post("/analyse", SMALL) for api in (a, b) * 2]
    # The workers are stopped: the analysis that wins holds the scale "analysing" until they
    # are resumed, so every other request meets it.
    for proc in procs:
        proc.suspend()
    try:
        pending = together(cold, sends, until=3)
        early = answered(pending)
        assert sorted(x.status_code for x in early) == [409, 409, 409], [x.text for x in early]
        assert all(error_code(x) == "busy" for x in early)
        assert {scale(api)["state"] for api in (a, b)} == {"analysing"}
    finally:
        for proc in procs:
            with suppress(psutil.NoSuchProcess):
                proc.resume()
    wait_until(lambda: all(x is not None for x in pending), "the analysis answered", 60)
    assert sorted(x.status_code for x in answered(pending)) == [200, 409, 409, 409]
    results = []
    for api in (a, b):
        answer = {}
        for path in RESULTS:
            response = api.get(path)
            assert response.status_code == 200, (path, response.text)
            body = response.json()
            if path == "/get_chart_url":  # absolute: each API names its own address
                body = body["url"].removeprefix(api.url)
            answer[path] = body
        answer["last"] = api.get("/v1/runs/last").json()
        results.append(answer)
    assert results[0] == results[1]
    audit = results[0]["/get_audit"]
    assert len(audit) == audit_before + 1
    assert audit[-1]["run_id"] == results[0]["last"]["run_id"]
    # The chart drawn for the run is served by the API that did not run it.
    chart = httpx.get(b.url + results[1]["/get_chart_url"], timeout=60)
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")


def test_terminate_from_one_api_seen_by_the_other(cold: Pair) -> None:
    a, b = cold.a, cold.b
    b.warm("ec2", 2)  # on the local platform: worker processes found by their records
    a.wait_for("/scaled_ready", "warm")
    procs = workers(cold)
    assert len(procs) == 2
    body = a.get("/terminate").json()
    assert body["result"] == "ok" and body["state"] in ("terminating", "cold")
    b.wait_for("/scaled_terminated", "terminated")
    assert flag(b, "/scaled_ready", "warm") == "false"
    response = b.post("/analyse", SMALL)
    assert response.status_code == 409 and error_code(response) == "not_warm", response.text
    wait_until(lambda: not any(p.is_running() and p.status() != "zombie" for p in procs), "gone")
    assert same_everywhere(cold)["state"] == "cold"
    assert flag(a, "/scaled_terminated", "terminated") == "true"


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_dead_worker_replaced_once_when_both_apis_look_at_once(cold: Pair, service: str) -> None:
    a, b = cold.a, cold.b
    a.warm(service, 2)
    b.wait_for("/scaled_ready", "warm")
    victim = scale(a)["resources"][0]
    process = psutil.Process(victim["pid"])
    process.kill()
    wait_until(lambda: dead(process), "killed", 5)
    # Both APIs see it dead at the same moment and race to replace it: the claim is a
    # compare-and-set, so exactly one launches a replacement.
    looks = [lambda api=api: api.get("/scaled_ready") for api in (a, b) * 3]
    assert all(x.status_code == 200 for x in answered(together(cold, looks)))
    for api in (a, b):
        api.wait_for("/scaled_ready", "warm")
    view = same_everywhere(cold)
    [replacement] = view["replacements"]
    assert replacement["resource"] == victim["id"]
    assert [r["index"] for r in view["resources"]] == [0, 1]
    assert view["resources"][0]["id"] == replacement["replaced_by"]
    wait_until(
        lambda: sorted(p.pid for p in workers(cold)) == sorted(r["pid"] for r in view["resources"]),
        "only the scale's two workers running",
    )
