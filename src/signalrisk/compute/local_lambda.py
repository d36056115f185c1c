"""``s = lambda`` on the local platform: r worker processes, each a stand-in for one Lambda
execution environment with its own resource id, each running the real compute handler behind
Lambda's Invoke API path. Warm-up invokes every one of them once, as r concurrent warm-up
invocations do on AWS; the billed duration is the handler's, rounded up to 1 ms as Lambda does.

A batch not answered within the call timeout is a ComputeError, and its worker is killed
(SIGKILL) before the error is raised, as Lambda stops an execution environment whose invocation
timed out: a hung worker bills nothing more, and the next probe records it dead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from signalrisk.compute.base import (
    BatchResult,
    Resource,
    ScaleSpec,
    launch_indices,
    resource_suffix,
)
from signalrisk.compute.localproc import (
    find_workers,
    is_alive,
    kill_hung_worker,
    spawn_worker,
    stop_worker,
)
from signalrisk.compute.workerhttp import (
    curl_command,
    in_parallel,
    is_healthy,
    post_batch,
    worker_batch,
)
from signalrisk.core.errors import ComputeError

FUNCTION_NAME = "signalrisk-compute"
INVOKE_PATH = f"/2015-03-31/functions/{FUNCTION_NAME}/invocations"


class LocalLambdaProvider:
    """The compute function on r local processes."""

    service = "lambda"

    def __init__(
        self, home: Path, client: httpx.Client, call_timeout_s: float, idle_timeout_s: float
    ) -> None:
        self.log_dir = Path(home) / "logs"
        self.client = client
        self.call_timeout_s = call_timeout_s
        self.idle_timeout_s = idle_timeout_s

    def launch(self, spec: ScaleSpec, indices: Sequence[int] | None = None) -> list[Resource]:
        resources = []
        suffix = resource_suffix(first_launch=indices is None)
        for index in launch_indices(spec, indices):
            rid = f"lambda-{spec.scale_id[:8]}-{index}{suffix}"
            worker = spawn_worker(
                rid, spec.scale_id, spec.secret, self.idle_timeout_s, self.log_dir
            )
            resources.append(
                Resource(
                    id=rid,
                    index=index,
                    address=worker.url,
                    pid=worker.pid,
                    create_time=worker.create_time,
                )
            )
        return resources

    def probe(self, spec: ScaleSpec, resources: list[Resource]) -> list[Resource]:
        return in_parallel(lambda resource: self._probe_one(spec, resource), resources)

    def _probe_one(self, spec: ScaleSpec, resource: Resource) -> Resource:
        if not is_alive(resource.pid, resource.create_time):
            return resource.evolve(state="dead")
        if resource.state == "starting":
            return self._warm(spec, resource)
        # The health call is also the heartbeat that keeps the worker's watchdog quiet.
        is_healthy(self.client, str(resource.address), spec.secret)
        return resource

    def _warm(self, spec: ScaleSpec, resource: Resource) -> Resource:
        """The warm-up invocation; a worker still starting simply stays ``starting``."""
        clock = time.perf_counter()
        try:
            body = post_batch(
                self.client,
                f"{resource.address}{INVOKE_PATH}",
                spec.secret,
                {"warmup": True},
                timeout_s=2.0,
            )
        except ComputeError:
            return resource
        if body.get("resource_id") != resource.id:
            return resource  # someone else answers on that port: not our worker
        # Lambda bills the warm-up invocation in whole milliseconds, 1 ms at least.
        billed = max(1.0, math.ceil((time.perf_counter() - clock) * 1000.0))
        return resource.evolve(state="ready", warm_billed_ms=billed)

    def endpoints(self, spec: ScaleSpec, resources: list[Resource], api_url: str) -> dict[str, str]:
        url = f"{api_url.rstrip('/')}/v1/functions/compute/invocations"
        return {url: curl_command(url, {})}

    def run_batch(
        self, spec: ScaleSpec, resource: Resource, payload: dict[str, Any]
    ) -> BatchResult:
        url = f"{resource.address}{INVOKE_PATH}"
        body = post_batch(
            self.client,
            url,
            spec.secret,
            payload,
            self.call_timeout_s,
            on_timeout=lambda: self.stop_hung(spec, resource),
        )
        return worker_batch(body, url)

    def invoke(
        self, spec: ScaleSpec, resource: Resource, payload: dict[str, Any]
    ) -> dict[str, Any]:
        return post_batch(
            self.client,
            f"{resource.address}{INVOKE_PATH}",
            spec.secret,
            payload,
            self.call_timeout_s,
        )

    def terminate(self, spec: ScaleSpec, resources: list[Resource]) -> None:
        for resource in resources:
            stop_worker(resource.pid, resource.create_time)
        # Workers carry their scale id as a tag: stop any that a crash left unrecorded.
        for process in find_workers(spec.scale_id):
            stop_worker(process.pid, process.create_time())

    def gone(self, spec: ScaleSpec, resources: list[Resource]) -> list[bool]:
        return [not is_alive(r.pid, r.create_time) for r in resources]

    def stop_hung(self, spec: ScaleSpec, resource: Resource) -> None:
        kill_hung_worker(resource.pid, resource.create_time)
