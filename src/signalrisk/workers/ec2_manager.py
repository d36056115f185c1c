"""The EC2-manager function (AWS Lambda handler), with the source system's actions.

    {"action": "create", "r": 3, "scale_id": "...", "secret": "..."}  -> {"ids": [...]}
    {"action": "confirm_creation", "ids": [...]}
        -> {"warm": "false", "instances": [...]} | {"warm": "true", "instances_dns": [...], ...}
    {"action": "terminate", "ids": [...]}                              -> {"result": "ok"}
    {"action": "confirm_termination", "ids": [...]}
        -> {"result": "ok", "terminated": "true"} | {"result": "pending", "terminated": "false"}

It launches without waiting for instances to boot. ``handle`` takes the fleet to manage, so the
same code manages local worker processes on the local platform and EC2 on AWS.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from signalrisk.compute.fleet import Fleet

SCALE_TAG = "signalrisk:scale"


def _ids(event: dict[str, Any]) -> list[str]:
    ids = event.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("ids must be a list of instance ids")
    return ids


def _count(value: Any) -> int:
    """``r``: a positive int, integral float or numeric string (not a bool, not 1.5)."""
    count: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        count = int(value.strip())
    if count is None or count < 1:
        raise ValueError("r must be a positive integer")
    return count


def _scale_tag(event: dict[str, Any]) -> dict[str, str]:
    return {SCALE_TAG: str(event.get("scale_id", ""))}


def handle(event: dict[str, Any], fleet: Fleet) -> dict[str, Any]:
    """Carry out one action on ``fleet``; raises ValueError on a bad payload."""
    action = event.get("action")
    if action == "create":
        count = _count(event.get("r"))
        secret = event.get("secret")
        if not isinstance(secret, str) or not secret:
            raise ValueError("secret must be a non-empty string: workers refuse to run without")
        return {"ids": fleet.run(count, _scale_tag(event), secret)}
    if action == "confirm_creation":
        instances = fleet.describe(_ids(event))
        listed = [asdict(i) for i in instances]
        if instances and all(i.state == "running" for i in instances):
            return {
                "warm": "true",
                "instances_dns": [i.address for i in instances],
                "instances": listed,
            }
        return {"warm": "false", "instances": listed}
    if action == "terminate":
        # With scale_id, also every instance tagged with it: what a crash left unrecorded.
        tagged = fleet.find(_scale_tag(event)) if event.get("scale_id") else []
        fleet.terminate(sorted(set(_ids(event)) | set(tagged)))
        return {"result": "ok"}
    if action == "confirm_termination":
        instances = fleet.describe(_ids(event))
        done = all(i.state == "terminated" for i in instances)
        return {
            "result": "ok" if done else "pending",
            "terminated": "true" if done else "false",
            "instances": [asdict(i) for i in instances],
        }
    raise ValueError(
        "action must be one of create, confirm_creation, terminate, confirm_termination"
    )


def fleet_from_environment() -> Fleet:
    """The fleet named by ``SIGNALRISK_FLEET``: ``local`` (worker processes in SIGNALRISK_HOME)
    or ``aws`` (EC2, configured by the ``SIGNALRISK_AWS__*`` settings; the manager Lambda)."""
    name = os.environ.get("SIGNALRISK_FLEET", "local")
    if name == "local":
        from signalrisk.compute.localfleet import LocalProcessFleet

        return LocalProcessFleet(Path(os.environ.get("SIGNALRISK_HOME", "var")).resolve())
    if name == "aws":
        from signalrisk.compute.ec2fleet import Ec2Fleet
        from signalrisk.core.config import Settings

        return Ec2Fleet(Settings().aws)
    raise ValueError(f"unknown fleet {name!r}; valid: local, aws")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point: ``signalrisk.workers.ec2_manager.handler``."""
    return handle(event, fleet_from_environment())
