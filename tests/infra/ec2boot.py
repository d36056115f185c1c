"""Instances that "boot" into real worker processes: the resolver seam of ``Ec2Fleet``.

moto models EC2's API but runs nothing on its instances. ``InstanceBooter.resolve`` maps an
instance's public address to a real worker process on 127.0.0.1, started on first contact with
the secret read back from the instance's user-data, as the instance's own service would get it.
Everything else (describe, DNS names, HTTP, the worker, its answer) is the real code path.
"""

from __future__ import annotations

import base64
import re
import threading
from pathlib import Path
from typing import Any

import boto3

from signalrisk.compute.localproc import WorkerProcess, kill_worker, spawn_worker
from signalrisk.compute.userdata import SECRET_VARIABLE


def user_data(ec2: Any, instance_id: str) -> str:
    answer = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(answer["UserData"]["Value"]).decode()


def secret_in_user_data(ec2: Any, instance_id: str) -> str:
    """The scale's secret, as an instance's user-data hands it to the worker service."""
    match = re.search(rf"^{SECRET_VARIABLE}=(\S+)$", user_data(ec2, instance_id), re.MULTILINE)
    assert match, "the user-data carries no secret"
    return match.group(1)


class InstanceBooter:
    """Starts one local worker per instance address, the first time it is resolved."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.ec2 = boto3.client("ec2")
        self.workers: dict[str, WorkerProcess] = {}
        self._lock = threading.Lock()

    def resolve(self, address: str) -> str:
        with self._lock:
            if address not in self.workers:
                host = address.split("//", 1)[1].rsplit(":", 1)[0]
                found = self.ec2.describe_instances(
                    Filters=[{"Name": "dns-name", "Values": [host]}]
                )["Reservations"]
                instance = found[0]["Instances"][0]
                tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                secret = secret_in_user_data(self.ec2, instance["InstanceId"])
                self.workers[address] = spawn_worker(
                    instance["InstanceId"],
                    tags.get("signalrisk:scale", ""),
                    secret,
                    120.0,
                    self.log_dir,
                )
            return self.workers[address].url

    def stop(self) -> None:
        for worker in self.workers.values():
            kill_worker(worker.pid, worker.create_time)
