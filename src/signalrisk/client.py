"""A typed HTTP client of the signalrisk API, for the command line and for scripts.

Answers are the API's own JSON (``dict``), unchanged, so that what a caller prints is what the
API said. Failures are one small hierarchy::

    ClientError                 anything this client raises on purpose
    ├── ApiError                the API answered with its error shape (status, code, message, field)
    ├── ServerUnreachable       no answer at all: nothing listening, DNS, connect or read timeout
    ├── ScaleFailed             a wait for a state saw the scale fail or go elsewhere
    └── WaitTimeout             a wait for a state did not end in time

Waiting for a state (:meth:`SignalriskClient.wait_ready`, :meth:`~SignalriskClient.wait_terminated`)
polls ``/v1/scale`` and hands every snapshot to a callback, which is how the CLI draws progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
JsonObject = dict[str, Any]
ScaleCallback = Callable[[JsonObject], None]


class ClientError(Exception):
    """Base of every error this client raises on purpose."""

    code = "client_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiError(ClientError):
    """The API answered with an error: its HTTP status and ``{"error": {code, message, field}}``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            error = response.json()["error"]
            return cls(
                response.status_code, str(error["code"]), str(error["message"]), error.get("field")
            )
        except (ValueError, KeyError, TypeError):
            # Not our error shape: a proxy, another service on the port, a load balancer page.
            text = " ".join(response.text.split())[:200] or response.reason_phrase
            return cls(response.status_code, f"http_{response.status_code}", text)


class ServerUnreachable(ClientError):
    """Nothing answered at ``url`` (or not in time)."""

    code = "unreachable"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the signalrisk API at {url} ({reason})")
        self.url = url
        self.reason = reason


class ScaleFailed(ClientError):
    """While waiting for ``ready``, the scale failed (or was terminated by someone else)."""

    code = "failed"


class WaitTimeout(ClientError):
    """The scale did not reach the awaited state within the deadline."""

    code = "timeout"


class SignalriskClient:
    """The API's endpoints as methods. ``token`` is sent as ``Authorization: Bearer``."""

    def __init__(
        self, url: str = DEFAULT_URL, token: str | None = None, timeout_s: float = 60.0
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout_s, connect=5.0)
        )

    def __enter__(self) -> SignalriskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- transport -----------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; an error answer raises ApiError, no answer raises ServerUnreachable."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.url, str(exc) or type(exc).__name__) from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, body: JsonObject, timeout: httpx.Timeout | None = None) -> Any:
        extra = {} if timeout is None else {"timeout": timeout}
        return self.request("POST", path, json=body, **extra).json()

    # -- the scale -----------------------------------------------------------------------

    def health(self) -> JsonObject:
        answer: JsonObject = self.get("/health")
        return answer

    def info(self) -> JsonObject:
        answer: JsonObject = self.get("/v1/info")
        return answer

    def scale(self) -> JsonObject:
        """``/v1/scale``: state, service, r, resources, warm-up cost and cost to date."""
        answer: JsonObject = self.get("/v1/scale")
        return answer

    def warmup(self, service: str, r: int) -> JsonObject:
        answer: JsonObject = self.post("/warmup", {"s": service, "r": r})
        return answer

    def scaled_ready(self) -> bool:
        return _is_true(self.get("/scaled_ready").get("warm"))

    def scaled_terminated(self) -> bool:
        return _is_true(self.get("/scaled_terminated").get("terminated"))

    def terminate(self) -> JsonObject:
        answer: JsonObject = self.get("/terminate")
        return answer

    def reset(self) -> JsonObject:
        answer: JsonObject = self.get("/reset")
        return answer

    def wait_ready(
        self, timeout_s: float, every_s: float = 0.25, on_poll: ScaleCallback | None = None
    ) -> JsonObject:
        """Poll until the scale is ``ready``; one that fails or stops warming is ScaleFailed."""

        def settled(scale: JsonObject) -> bool:
            if scale["state"] == "ready":
                return True
            if scale["state"] == "failed":
                raise ScaleFailed(f"the warm-up failed: {scale.get('error') or 'no reason given'}")
            if scale["state"] != "warming":
                raise ScaleFailed(f"the scale is {scale['state']}, not warming up")
            return False

        return self._wait(settled, "ready", timeout_s, every_s, on_poll)

    def wait_terminated(
        self, timeout_s: float, every_s: float = 0.25, on_poll: ScaleCallback | None = None
    ) -> JsonObject:
        """Poll until ``/scaled_terminated`` is true (every resource gone)."""
        return self._wait(
            lambda _: self.scaled_terminated(), "terminated", timeout_s, every_s, on_poll
        )

    def _wait(
        self,
        settled: Callable[[JsonObject], bool],
        goal: str,
        timeout_s: float,
        every_s: float,
        on_poll: ScaleCallback | None,
    ) -> JsonObject:
        deadline = time.monotonic() + timeout_s
        while True:
            scale = self.scale()
            if on_poll is not None:
                on_poll(scale)
            if settled(scale):
                return scale
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"the scale was not {goal} after {timeout_s:g} s (it is {scale['state']})"
                )
            time.sleep(every_s)

    # -- analyses and results ------------------------------------------------------------

    def analyse(self, **params: Any) -> str:
        """POST /analyse (h, d, t, p, ticker, start, end, seed; None values left out); waits
        for the analysis however long it takes and returns its run id."""
        body = {key: value for key, value in params.items() if value is not None}
        answer = self.post("/analyse", body, timeout=httpx.Timeout(None, connect=5.0))
        return str(answer["run_id"])

    def run(self, run_id: str | None = None) -> JsonObject:
        """``/v1/runs/{run_id}`` (default: the last run) with its per-signal ``items``."""
        answer: JsonObject = self.get(f"/v1/runs/{run_id}" if run_id else "/v1/runs/last")
        return answer

    def runs(self, offset: int = 0, limit: int = 100) -> JsonObject:
        answer: JsonObject = self.get("/v1/runs", offset=offset, limit=limit)
        return answer

    def chart_png(self, run_id: str) -> bytes:
        return self.request("GET", f"/v1/runs/{run_id}/chart.png").content

    def signals_csv(self, run_id: str) -> str:
        return self.request("GET", f"/v1/runs/{run_id}/signals.csv").text

    def audit(self, offset: int = 0, limit: int = 100) -> JsonObject:
        """One page of the audit trail, oldest first, with ``total``."""
        answer: JsonObject = self.get("/v1/audit", offset=offset, limit=limit)
        return answer

    def latest_audit(self, limit: int) -> JsonObject:
        """The ``limit`` most recent audit records, oldest first."""
        total = int(self.audit(0, 1)["total"])
        return self.audit(max(0, total - limit), limit)


def _is_true(value: Any) -> bool:
    return value is True or value in ("true", "True")
