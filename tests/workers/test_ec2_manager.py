"""The EC2-manager handler's four actions over a fleet of local worker processes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from signalrisk.compute.localfleet import LocalProcessFleet
from signalrisk.compute.localproc import find_workers, is_alive, kill_worker
from signalrisk.workers import ec2_manager
from signalrisk.workers.ec2_manager import handle

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{17}$")
SECRET = "manager-test-secret"


def poll(check: Callable[[], dict[str, Any]], key: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """Call ``check`` until ``answer[key] == "true"``; return that answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = check()
        if answer[key] == "true" or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[LocalProcessFleet]:
    """A fleet whose processes are all killed afterwards, whatever the test did."""
    managed = LocalProcessFleet(tmp_path)
    try:
        yield managed
    finally:
        for record in (tmp_path / "instances").glob("i-*.json"):
            found = managed.describe([record.stem])[0]
            kill_worker(found.pid, found.create_time)


def scale_id(request: pytest.FixtureRequest) -> str:
    return f"test-scale-{request.node.name}-{time.time_ns()}"


def test_create_instances_returns_instance_ids(
    fleet: LocalProcessFleet, request: pytest.FixtureRequest
) -> None:
    tag = scale_id(request)
    answer = handle({"action": "create", "r": "2", "scale_id": tag, "secret": SECRET}, fleet)
    ids = answer["ids"]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(INSTANCE_ID.match(i) for i in ids), ids
    # Tagged with the scale, so that they can be found after a crash.
    assert len(find_workers(tag)) == 2


def test_confirm_creation_reports_dns_once_running(
    fleet: LocalProcessFleet, request: pytest.FixtureRequest
) -> None:
    ids = handle(
        {"action": "create", "r": 2, "scale_id": scale_id(request), "secret": SECRET}, fleet
    )["ids"]
    first = handle({"action": "confirm_creation", "ids": ids}, fleet)
    assert first["warm"] in ("true", "false")
    answer = poll(lambda: handle({"action": "confirm_creation", "ids": ids}, fleet), "warm")
    assert answer["warm"] == "true"
    dns = answer["instances_dns"]
    assert len(dns) == 2 and len(set(dns)) == 2
    assert [i["id"] for i in answer["instances"]] == ids
    assert all(i["state"] == "running" for i in answer["instances"])
    # Every address serves the worker app with the scale's secret (and only with it).
    for address, instance_id in zip(dns, ids, strict=True):
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(
                    f"{address}/health", headers={"Authorization": f"Bearer {SECRET}"}, timeout=1
                )
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, f"{address} never answered"
                time.sleep(0.05)
        assert health.json()["resource_id"] == instance_id
        assert httpx.get(f"{address}/health", timeout=2).status_code == 401


def test_confirm_creation_unknown_or_no_ids_not_warm(fleet: LocalProcessFleet) -> None:
    assert handle({"action": "confirm_creation", "ids": []}, fleet)["warm"] == "false"
    answer = handle({"action": "confirm_creation", "ids": ["i-0123456789abcdef0"]}, fleet)
    assert answer["warm"] == "false"
    assert answer["instances"][0]["state"] == "terminated"


def test_terminate_instances_confirms_termination_once_exited(
    fleet: LocalProcessFleet, request: pytest.FixtureRequest
) -> None:
    tag = scale_id(request)
    ids = handle({"action": "create", "r": 2, "scale_id": tag, "secret": SECRET}, fleet)["ids"]
    poll(lambda: handle({"action": "confirm_creation", "ids": ids}, fleet), "warm")
    pids = [i.pid for i in fleet.describe(ids)]
    assert handle({"action": "terminate", "ids": ids}, fleet) == {"result": "ok"}
    answer = poll(
        lambda: handle({"action": "confirm_termination", "ids": ids}, fleet), "terminated"
    )
    assert answer["terminated"] == "true" and answer["result"] == "ok"
    assert all(i["state"] == "terminated" for i in answer["instances"])
    assert not any(is_alive(pid, None) for pid in pids)
    assert find_workers(tag) == []
    # Terminating again is harmless, as on EC2.
    assert handle({"action": "terminate", "ids": ids}, fleet) == {"result": "ok"}


def test_confirm_termination_pending_while_running(
    fleet: LocalProcessFleet, request: pytest.FixtureRequest
) -> None:
    ids = handle(
        {"action": "create", "r": 1, "scale_id": scale_id(request), "secret": SECRET}, fleet
    )["ids"]
    poll(lambda: handle({"action": "confirm_creation", "ids": ids}, fleet), "warm")
    answer = handle({"action": "confirm_termination", "ids": ids}, fleet)
    assert answer == {**answer, "result": "pending", "terminated": "false"}


def test_confirm_termination_of_nothing_is_true(fleet: LocalProcessFleet) -> None:
    answer = handle({"action": "confirm_termination", "ids": []}, fleet)
    assert answer["terminated"] == "true"


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({}, "action"),
        ({"action": "reboot", "ids": []}, "action"),
        ({"action": "CREATE", "r": 1, "secret": SECRET}, "action"),
        ({"action": "create", "secret": SECRET}, "r must"),
        ({"action": "create", "r": 0, "secret": SECRET}, "r must"),
        ({"action": "create", "r": -1, "secret": SECRET}, "r must"),
        ({"action": "create", "r": "many", "secret": SECRET}, "r must"),
        ({"action": "create", "r": None, "secret": SECRET}, "r must"),
        ({"action": "create", "r": 1.5, "secret": SECRET}, "r must"),
        ({"action": "create", "r": True, "secret": SECRET}, "r must"),
        ({"action": "create", "r": [2], "secret": SECRET}, "r must"),
        ({"action": "create", "r": 1}, "secret"),
        ({"action": "create", "r": 1, "secret": ""}, "secret"),
        ({"action": "create", "r": 1, "secret": 12345}, "secret"),
        ({"action": "confirm_creation"}, "ids"),
        ({"action": "confirm_creation", "ids": "i-0123456789abcdef0"}, "ids"),
        ({"action": "confirm_creation", "ids": [1, 2]}, "ids"),
        ({"action": "confirm_creation", "ids": ["../../etc/passwd"]}, "instance id"),
        ({"action": "terminate", "ids": None}, "ids"),
        ({"action": "terminate", "ids": ["i-../x"]}, "instance id"),
        ({"action": "confirm_termination", "ids": [None]}, "ids"),
    ],
)
def test_handle_bad_event_raises_value_error(
    fleet: LocalProcessFleet, tmp_path: Path, event: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        handle(event, fleet)
    # A refused create launched nothing.
    assert not list((tmp_path / "instances").glob("*.json"))


def test_handler_uses_fleet_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALRISK_HOME", str(tmp_path))
    monkeypatch.delenv("SIGNALRISK_FLEET", raising=False)
    fleet = ec2_manager.fleet_from_environment()
    assert isinstance(fleet, LocalProcessFleet) and fleet.root == tmp_path / "instances"
    answer = ec2_manager.handler({"action": "confirm_termination", "ids": []}, None)
    assert answer["terminated"] == "true"
    monkeypatch.setenv("SIGNALRISK_FLEET", "mainframe")
    with pytest.raises(ValueError, match="mainframe"):
        ec2_manager.fleet_from_environment()


def test_terminate_with_scale_id_stops_instances_whose_ids_were_lost(
    fleet: LocalProcessFleet, request: pytest.FixtureRequest
) -> None:
    tag = scale_id(request)
    ids = handle({"action": "create", "r": "2", "scale_id": tag, "secret": SECRET}, fleet)["ids"]
    assert sorted(fleet.find({ec2_manager.SCALE_TAG: tag})) == sorted(ids)
    # A crash lost the second id: terminating by the scale's tag still finds it.
    assert handle({"action": "terminate", "ids": ids[:1], "scale_id": tag}, fleet) == {
        "result": "ok"
    }
    answer = poll(
        lambda: handle({"action": "confirm_termination", "ids": ids}, fleet), "terminated"
    )
    assert answer["terminated"] == "true"
    assert fleet.find({ec2_manager.SCALE_TAG: tag}) == []
