"""``s = ec2`` on the local platform: r worker processes that stand in for EC2 instances.

The provider goes through the EC2-manager handler, exactly as the API does on AWS; only the
fleet it manages differs (local processes instead of EC2 instances).

A batch not answered within the call timeout is a ComputeError, and its instance is terminated
before the error is raised, through the manager and then forced off (SIGKILL: a hung process
may never act on SIGTERM), as EC2 forces off an instance that does not shut down: a hung
instance bills nothing more, and the next probe records it dead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from signalrisk.compute.base import BatchResult, Resource, ScaleSpec, launch_indices
from signalrisk.compute.localproc import kill_hung_worker
from signalrisk.compute.workerhttp import (
    auth_header,
    curl_command,
    in_parallel,
    is_healthy,
    post_batch,
    worker_batch,
)
from signalrisk.core.errors import ComputeError

Manager = Callable[[dict[str, Any]], dict[str, Any]]


class LocalEc2Provider:
    """Worker HTTP apps on 127.0.0.1, launched and terminated through the manager handler."""

    service = "ec2"

    def __init__(self, manager: Manager, client: httpx.Client, call_timeout_s: float) -> None:
        self.manager = manager
        self.client = client
        self.call_timeout_s = call_timeout_s

    def launch(self, spec: ScaleSpec, indices: Sequence[int] | None = None) -> list[Resource]:
        wanted = launch_indices(spec, indices)
        created = self.manager(
            {
                "action": "create",
                "r": len(wanted),
                "scale_id": spec.scale_id,
                "secret": spec.secret,
            }
        )
        return [Resource(id=i, index=n) for n, i in zip(wanted, created["ids"], strict=True)]

    def _describe(self, resources: list[Resource]) -> dict[str, dict[str, Any]]:
        answer = self.manager({"action": "confirm_creation", "ids": [r.id for r in resources]})
        return {i["id"]: i for i in answer["instances"]}

    def probe(self, spec: ScaleSpec, resources: list[Resource]) -> list[Resource]:
        described = self._describe(resources)
        return in_parallel(
            lambda resource: self._probe_one(spec, resource, described.get(resource.id, {})),
            resources,
        )

    def _probe_one(self, spec: ScaleSpec, resource: Resource, info: dict[str, Any]) -> Resource:
        state = info.get("state")
        if state in ("terminated", "shutting-down"):
            return resource.evolve(state="dead")
        update = resource.evolve(
            address=info.get("address"), pid=info.get("pid"), create_time=info.get("create_time")
        )
        healthy = (
            state == "running"
            and update.address is not None
            and is_healthy(self.client, update.address, spec.secret)
        )
        # A running instance that answered once stays ready through a slow health check.
        return update.evolve(state="ready") if healthy else update

    def endpoints(self, spec: ScaleSpec, resources: list[Resource], api_url: str) -> dict[str, str]:
        return {
            f"{r.address}/": curl_command(f"{r.address}/", auth_header(spec.secret))
            for r in resources
            if r.address
        }

    def run_batch(
        self, spec: ScaleSpec, resource: Resource, payload: dict[str, Any]
    ) -> BatchResult:
        if not resource.address:
            raise ComputeError(f"instance {resource.id} has no address")
        url = f"{resource.address}/"
        clock = time.perf_counter()
        body = post_batch(
            self.client,
            url,
            spec.secret,
            payload,
            self.call_timeout_s,
            on_timeout=lambda: self.stop_hung(spec, resource),
        )
        # An instance bills wall-clock time, whatever the handler spent computing.
        return worker_batch(body, url, billed_ms=(time.perf_counter() - clock) * 1000.0)

    def stop_hung(self, spec: ScaleSpec, resource: Resource) -> None:
        # This instance only: ``terminate`` also stops every instance with the scale's tag.
        self.manager({"action": "terminate", "ids": [resource.id]})
        kill_hung_worker(resource.pid, resource.create_time)

    def terminate(self, spec: ScaleSpec, resources: list[Resource]) -> None:
        ids = [r.id for r in resources]
        self.manager({"action": "terminate", "ids": ids, "scale_id": spec.scale_id})

    def gone(self, spec: ScaleSpec, resources: list[Resource]) -> list[bool]:
        answer = self.manager({"action": "confirm_termination", "ids": [r.id for r in resources]})
        states = {i["id"]: i["state"] for i in answer["instances"]}
        return [states.get(r.id) == "terminated" for r in resources]
