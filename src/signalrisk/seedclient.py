"""The source system's own test client, as a library: the whole seed workflow against a URL.

It POSTs JSON with every number as a string, polls ``/scaled_ready`` and ``/scaled_terminated``
and accepts ``true``, ``"true"`` or ``"True"``, for lambda and then ec2 (SPEC §2). Used by
``make smoke-aws`` against a real deployment, and by the tests against the local platform.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

STANDARD = {"h": "101", "d": "10000", "t": "sell", "p": "7"}
RESULTS = (
    "/get_sig_vars9599",
    "/get_avg_vars9599",
    "/get_sig_profit_loss",
    "/get_tot_profit_loss",
    "/get_chart_url",
    "/get_time_cost",
    "/get_audit",
)


def is_true(value: Any) -> bool:
    return value is True or value in ("true", "True")


@dataclass
class SeedRun:
    """Every answer of one pass of the workflow, by endpoint."""

    service: str
    answers: dict[str, Any] = field(default_factory=dict)


class SeedClient:
    """Drives a signalrisk (or source-system) API like the original test client."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        poll_s: float = 10.0,
        timeout_s: float = 900.0,
        log: Callable[[str], None] = print,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.log = log

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
        return response.json()

    def get(self, path: str) -> Any:
        return self._json(self.http.get(path))

    def post(self, path: str, body: dict[str, str]) -> Any:
        return self._json(self.http.post(path, json=body))

    def poll(self, path: str, key: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not is_true(self.get(path).get(key)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} not {key} after {self.timeout_s} s")
            time.sleep(self.poll_s)

    def run(self, service: str, r: int = 3, analysis: dict[str, str] | None = None) -> SeedRun:
        """warmup, scaled_ready, costs, endpoints, analyse, every result, reset, terminate."""
        run = SeedRun(service)
        self.log(f"{service}: warmup r={r}")
        run.answers["/warmup"] = self.post("/warmup", {"s": service, "r": str(r)})
        self.poll("/scaled_ready", "warm")
        for path in ("/get_warmup_cost", "/get_endpoints"):
            run.answers[path] = self.get(path)
        self.log(f"{service}: analyse")
        run.answers["/analyse"] = self.post("/analyse", analysis or STANDARD)
        for path in RESULTS:
            run.answers[path] = self.get(path)
        run.answers["/reset"] = self.get("/reset")
        run.answers["/terminate"] = self.get("/terminate")
        self.poll("/scaled_terminated", "terminated")
        self.log(f"{service}: terminated")
        return run

    def close(self) -> None:
        self.http.close()
