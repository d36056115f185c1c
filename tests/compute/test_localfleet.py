"""Local worker processes (``compute.localproc``) and the fleet of them (``compute.localfleet``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from signalrisk.compute.localfleet import LocalProcessFleet
from signalrisk.compute.localproc import (
    WorkerProcess,
    find_workers,
    is_alive,
    kill_worker,
    spawn_worker,
    stop_worker,
)

SECRET = "fleet-test-secret"
AUTH = {"Authorization": f"Bearer {SECRET}"}


def wait_healthy(url: str, timeout_s: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = httpx.get(f"{url}/health", headers=AUTH, timeout=1)
            if response.status_code == 200:
                body: dict[str, object] = response.json()
                return body
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} never became healthy"
        time.sleep(0.05)


def wait_dead(pid: int | None, create_time: float | None, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_alive(pid, create_time):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Workers that a test starts (append them); all killed afterwards."""
    workers: list[WorkerProcess] = []
    try:
        yield workers
    finally:
        for worker in workers:
            kill_worker(worker.pid, worker.create_time)


def unique_scale() -> str:
    return f"scale-{os.getpid()}-{time.time_ns()}"


# -- localproc ---------------------------------------------------------------------------


def test_is_alive_true_for_running_process_with_its_create_time() -> None:
    me = psutil.Process()
    assert is_alive(me.pid, me.create_time())
    assert is_alive(me.pid, None)


def test_is_alive_false_for_wrong_create_time() -> None:
    """A pid reused by another process is not the worker we started."""
    me = psutil.Process()
    assert not is_alive(me.pid, me.create_time() - 10.0)
    assert not is_alive(me.pid, me.create_time() + 1.0)


def test_is_alive_false_for_dead_or_missing_pid() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    created = psutil.Process(child.pid).create_time()
    child.wait(10)
    assert not is_alive(child.pid, created)
    assert not is_alive(None, None)
    assert not is_alive(0, None)


def test_is_alive_false_for_unreaped_zombie_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    created = psutil.Process(child.pid).create_time()
    deadline = time.monotonic() + 10
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not is_alive(child.pid, created)
    child.wait(1)


def test_spawn_worker_serves_on_recorded_port(tmp_path: Path, spawned: list[WorkerProcess]) -> None:
    tag = unique_scale()
    worker = spawn_worker("w-spawned", tag, SECRET, 30.0, tmp_path / "logs")
    spawned.append(worker)
    assert worker.url == f"http://127.0.0.1:{worker.port}"
    assert is_alive(worker.pid, worker.create_time)
    health = wait_healthy(worker.url)
    assert health["resource_id"] == "w-spawned" and health["pid"] == worker.pid
    # In its own session (a Ctrl-C in the API's terminal does not reach it), with its log file,
    # and the secret is not on its command line.
    assert os.getsid(worker.pid) == worker.pid
    assert (tmp_path / "logs" / "w-spawned.log").exists()
    assert SECRET not in " ".join(psutil.Process(worker.pid).cmdline())


def test_find_workers_by_scale_tag(tmp_path: Path, spawned: list[WorkerProcess]) -> None:
    tag, other = unique_scale(), unique_scale()
    spawned.extend(spawn_worker(f"w-{n}", tag, SECRET, 30.0, tmp_path) for n in range(2))
    spawned.append(spawn_worker("w-other", other, SECRET, 30.0, tmp_path))
    found = {p.pid for p in find_workers(tag)}
    assert found == {spawned[0].pid, spawned[1].pid}
    assert {p.pid for p in find_workers(other)} == {spawned[2].pid}
    assert {w.pid for w in spawned} <= {p.pid for p in find_workers()}
    assert find_workers(unique_scale()) == []


def test_stop_worker_ends_process(tmp_path: Path, spawned: list[WorkerProcess]) -> None:
    worker = spawn_worker("w-stop", unique_scale(), SECRET, 30.0, tmp_path)
    spawned.append(worker)
    wait_healthy(worker.url)
    stop_worker(worker.pid, worker.create_time)
    assert wait_dead(worker.pid, worker.create_time)


def test_stop_worker_spares_process_with_other_create_time() -> None:
    me = psutil.Process()
    stop_worker(me.pid, me.create_time() - 10.0)  # would be SIGTERM to ourselves
    assert is_alive(me.pid, me.create_time())


def test_kill_worker_ends_process_ignoring_sigterm(
    tmp_path: Path, spawned: list[WorkerProcess]
) -> None:
    worker = spawn_worker("w-stuck", unique_scale(), SECRET, 30.0, tmp_path)
    spawned.append(worker)
    wait_healthy(worker.url)
    os.kill(worker.pid, signal.SIGSTOP)  # a hung worker: SIGTERM stays pending
    began = time.monotonic()
    kill_worker(worker.pid, worker.create_time, grace_s=0.3)
    assert wait_dead(worker.pid, worker.create_time, timeout_s=5.0)
    assert time.monotonic() - began < 5.0


def test_spawned_worker_stops_itself_when_orphaned(
    tmp_path: Path, spawned: list[WorkerProcess]
) -> None:
    worker = spawn_worker("w-orphan", unique_scale(), SECRET, 1.0, tmp_path)
    spawned.append(worker)
    wait_healthy(worker.url)
    assert wait_dead(worker.pid, worker.create_time, timeout_s=6.0)


# -- localfleet --------------------------------------------------------------------------


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[LocalProcessFleet]:
    managed = LocalProcessFleet(tmp_path, idle_timeout_s=30.0)
    try:
        yield managed
    finally:
        for record in (tmp_path / "instances").glob("i-*.json"):
            data = json.loads(record.read_text())
            kill_worker(data.get("pid"), data.get("create_time"))


def test_run_fleet_records_every_instance_with_tags(
    fleet: LocalProcessFleet, tmp_path: Path
) -> None:
    tag = unique_scale()
    ids = fleet.run(2, {"signalrisk:scale": tag}, SECRET)
    for instance_id in ids:
        record = json.loads((tmp_path / "instances" / f"{instance_id}.json").read_text())
        assert record["tags"] == {"signalrisk:scale": tag}
        assert is_alive(record["pid"], record["create_time"])
        assert isinstance(record["port"], int)
    assert {p.pid for p in find_workers(tag)} == {i.pid for i in fleet.describe(ids)}
    assert not list((tmp_path / "instances").glob("*.tmp"))


def test_describe_fleet_reports_running_then_terminated(fleet: LocalProcessFleet) -> None:
    ids = fleet.run(2, {"signalrisk:scale": unique_scale()}, SECRET)
    described = fleet.describe(ids)
    assert [i.id for i in described] == ids
    assert all(i.state == "running" and i.address for i in described)
    assert len({i.address for i in described}) == 2
    for instance in described:
        assert wait_healthy(str(instance.address))["resource_id"] == instance.id
    fleet.terminate(ids)
    states = {i.state for i in fleet.describe(ids)}
    assert states <= {"shutting-down", "terminated"}
    for instance in described:
        assert wait_dead(instance.pid, instance.create_time)
    assert {i.state for i in fleet.describe(ids)} == {"terminated"}


def test_describe_fleet_reports_killed_instance_terminated(fleet: LocalProcessFleet) -> None:
    ids = fleet.run(2, {"signalrisk:scale": unique_scale()}, SECRET)
    victim = fleet.describe(ids)[0]
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    assert wait_dead(victim.pid, victim.create_time)
    states = [i.state for i in fleet.describe(ids)]
    assert states == ["terminated", "running"]


def test_describe_fleet_unknown_id_terminated_and_bad_id_refused(
    fleet: LocalProcessFleet,
) -> None:
    assert fleet.describe(["i-00000000000000000"])[0].state == "terminated"
    fleet.terminate(["i-00000000000000000"])  # unknown: nothing to do
    for bad in ("../escape", "i-../../x", "x-123", "i-"):
        with pytest.raises(ValueError, match="not an instance id"):
            fleet.describe([bad])


def test_describe_fleet_record_without_pid_is_pending(
    fleet: LocalProcessFleet, tmp_path: Path
) -> None:
    """Recorded before it is started: a launch in progress."""
    (tmp_path / "instances").mkdir(parents=True, exist_ok=True)
    (tmp_path / "instances" / "i-0123456789abcdef0.json").write_text(
        json.dumps({"id": "i-0123456789abcdef0", "tags": {}, "launched": time.time()})
    )
    assert fleet.describe(["i-0123456789abcdef0"])[0].state == "pending"


def test_write_instance_record_from_many_threads_at_once(tmp_path: Path) -> None:
    """The driver and a status request may both rewrite one record: neither write may fail."""
    from concurrent.futures import ThreadPoolExecutor

    fleet = LocalProcessFleet(tmp_path)
    record = {"id": "i-0123456789abcdef0", "tags": {}}

    def write(k: int) -> None:
        fleet._write("i-0123456789abcdef0", {**record, "k": k})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(400)))
    assert fleet._read("i-0123456789abcdef0") is not None
    assert [p.name for p in (tmp_path / "instances").iterdir()] == ["i-0123456789abcdef0.json"]
