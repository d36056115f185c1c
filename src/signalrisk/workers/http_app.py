"""The worker HTTP app: what each EC2 instance (and each local worker process) serves.

Routes, all of them requiring ``Authorization: Bearer <scale secret>``:

- ``GET /health``: ``{"status": "ok", "resource_id": ..., "pid": ...}``;
- ``POST /`` and ``POST /invoke``: the compute payload (see ``workers.compute``), as the source
  system's instances took it;
- ``POST /2015-03-31/functions/{name}/invocations``: the same handler behind AWS Lambda's Invoke
  API path, so that a local ``lambda`` worker answers the way a Lambda function does (a handler
  error comes back as 200 with ``X-Amz-Function-Error: Unhandled``).

Every call with the secret, health checks included, resets the idle watchdog: a worker that
nobody calls for ``idle_timeout_s`` seconds (its API crashed, or forgot it) stops itself; calls
without the secret (scanners of a public instance) do not keep it alive.
"""

from __future__ import annotations

import hmac
import json
import os
import signal
import threading
import time
import traceback

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from signalrisk.workers.compute import compute, resource_id


class IdleWatchdog:
    """Stops the process (SIGTERM to itself) when ``touch`` has not been called for a while."""

    def __init__(self, idle_timeout_s: float) -> None:
        self.idle_timeout_s = idle_timeout_s
        self._last = time.monotonic()
        self._busy = 0
        self._lock = threading.Lock()

    def touch(self) -> None:
        with self._lock:
            self._last = time.monotonic()

    def busy(self, delta: int) -> None:
        with self._lock:
            self._busy += delta
            self._last = time.monotonic()

    def idle_for(self) -> float:
        with self._lock:
            return 0.0 if self._busy else time.monotonic() - self._last

    def start(self) -> None:
        threading.Thread(target=self._watch, name="idle-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.idle_timeout_s / 4))
            if self.idle_for() > self.idle_timeout_s:
                os.kill(os.getpid(), signal.SIGTERM)
                return


def create_worker_app(secret: str, watchdog: IdleWatchdog | None = None) -> Starlette:
    """The worker app; ``secret`` is the scale's own, compared in constant time."""
    expected = f"Bearer {secret}".encode()

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        ok = hmac.compare_digest(given, expected)
        if ok and watchdog:  # strangers (scanners of a public instance) keep no one alive
            watchdog.touch()
        return ok

    def refused() -> JSONResponse:
        error = {"code": "unauthorized", "message": "this worker needs its scale's secret"}
        return JSONResponse({"error": error}, status_code=401)

    async def health(request: Request) -> Response:
        if not authorised(request):
            return refused()
        return JSONResponse({"status": "ok", "resource_id": resource_id(), "pid": os.getpid()})

    async def run(request: Request, lambda_style: bool) -> Response:
        if not authorised(request):
            return refused()
        try:
            event = json.loads(await request.body() or b"{}")
            if not isinstance(event, dict):
                raise ValueError("the payload must be a JSON object")
        except ValueError as exc:
            return _failure(exc, lambda_style)
        if watchdog:
            watchdog.busy(+1)
        try:
            result = await run_in_threadpool(compute, event)
        except ValueError as exc:
            return _failure(exc, lambda_style)
        finally:
            if watchdog:
                watchdog.busy(-1)
        return JSONResponse(result)

    async def invoke(request: Request) -> Response:
        return await run(request, lambda_style=False)

    async def lambda_invoke(request: Request) -> Response:
        return await run(request, lambda_style=True)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/", invoke, methods=["POST"]),
            Route("/invoke", invoke, methods=["POST"]),
            Route("/2015-03-31/functions/{name}/invocations", lambda_invoke, methods=["POST"]),
        ]
    )


def _failure(exc: Exception, lambda_style: bool) -> JSONResponse:
    if lambda_style:  # what AWS Lambda answers for an unhandled handler error
        body = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc)[-3:],
        }
        return JSONResponse(body, headers={"X-Amz-Function-Error": "Unhandled"})
    error = {"code": "invalid_parameter", "message": str(exc)}
    return JSONResponse({"error": error}, status_code=422)
