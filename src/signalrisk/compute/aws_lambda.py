"""``s = lambda`` on AWS: the compute function, invoked ``r`` times in parallel with boto3.

- **launch**: refuse ``r`` above the concurrency the account can give the function
  (``get_account_settings``), then make ``r`` concurrent warm-up invocations
  (``{"warmup": true}``). The resources are the distinct execution environments that answered,
  named by the handler's ``resource_id`` (its log stream), each with the billed duration of the
  warm-up invocations it served. With ``aws.provisioned_concurrency``, launch instead asks for
  ``r`` provisioned environments on the function's alias, and readiness follows that
  configuration's status.
- **probe**: a Lambda resource is a function, not a machine: it is ready once its warm-up has
  answered (or, provisioned, once the configuration is ``READY``), and it does not die.
- **run_batch** / **invoke**: ``Invoke`` with ``LogType="Tail"``; the billed duration is the one
  Lambda reports on its ``REPORT`` line, INIT included (:mod:`signalrisk.compute.lambda_report`).
  Throttling (``TooManyRequestsException``, 429) is retried with exponential backoff and full
  jitter, ``aws.invoke_attempts`` times at most (waits bounded by ``aws.invoke_backoff_s``,
  doubling up to 5 s); botocore's own retries are off for ``Invoke``. Still throttled, the
  call is a ComputeError that says so, naming the function. A handler's error (the
  ``X-Amz-Function-Error`` header) is a FunctionError carrying the handler's own type and
  message: it is not retried here (the caller may retry the batch, see
  ``signalrisk.services.dispatch``).
- **terminate** deletes the provisioned concurrency, if any; on-demand there is nothing to stop.

Credentials, region and endpoint come from the standard AWS chain (``AWS_ENDPOINT_URL_LAMBDA``
points this at an emulator). botocore errors are translated here, once, into ComputeError.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import shlex
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from signalrisk.compute.base import (
    BatchResult,
    Resource,
    ScaleSpec,
    Throttle,
    launch_indices,
    resource_suffix,
)
from signalrisk.compute.lambda_report import LambdaReport, parse_report
from signalrisk.compute.workerhttp import SAMPLE_PAYLOAD, batch_result, in_parallel
from signalrisk.core.config import Settings
from signalrisk.core.errors import ComputeError, FunctionError, LimitExceeded

log = logging.getLogger(__name__)

PROVISIONED_ALIAS = "live"
"""Alias that carries provisioned concurrency when ``compute_function`` names none
(``name:alias``): provisioned concurrency cannot be set on ``$LATEST``."""

WARMUP = {"warmup": True}
MAX_ID_LENGTH = 64  # the database's resource id column

SHARED_CONFIG = Config(
    max_pool_connections=64,  # r concurrent invocations share one client's connections
    retries={"mode": "standard"},
    connect_timeout=10,
)


class AwsLambdaProvider:
    """The compute function on AWS Lambda."""

    service = "lambda"

    retry_cap_s = 5.0
    """The longest wait between two throttled attempts."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        aws = settings.aws
        self.retry_attempts = aws.invoke_attempts  # when throttled, the first included
        self.retry_base_s = aws.invoke_backoff_s
        self.function, _, qualifier = aws.compute_function.partition(":")
        self.provisioned = aws.provisioned_concurrency
        self.qualifier = qualifier or (PROVISIONED_ALIAS if self.provisioned else None)
        if client is None:
            self.client, self.invoke_client = self._clients(settings)
        else:
            self.client = self.invoke_client = client
        self._warming: set[str] = set()  # resources with a warm-up invocation in flight here
        self._warming_lock = threading.Lock()

    @staticmethod
    def _clients(settings: Settings) -> tuple[Any, Any]:
        """A control-plane client with botocore's standard retries, and one for ``Invoke``
        without them (throttled invocations are retried here, with jitter)."""
        shared = SHARED_CONFIG.merge(
            Config(max_pool_connections=max(64, settings.limits.max_r_lambda))
        )
        invoke_config = shared.merge(
            Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                read_timeout=math.ceil(settings.worker_call_timeout_s) + 5,
            )
        )
        try:
            session = boto3.session.Session(region_name=settings.aws.region)
            return (
                session.client("lambda", config=shared),
                session.client("lambda", config=invoke_config),
            )
        except BotoCoreError as exc:
            raise ComputeError(
                f"cannot create an AWS Lambda client ({exc}); set AWS_DEFAULT_REGION or "
                "SIGNALRISK_AWS__REGION"
            ) from exc

    # -- the botocore boundary ---------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One control-plane call; every botocore error becomes ComputeError here."""
        answer = self._call_or_none(operation, missing_ok=False, **kwargs)
        assert answer is not None
        return answer

    def _call_or_none(
        self, operation: str, missing_ok: bool, **kwargs: Any
    ) -> dict[str, Any] | None:
        """``_call``, or None when the provisioned concurrency config is absent and
        ``missing_ok``."""
        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            if missing_ok and _code(exc) == "ProvisionedConcurrencyConfigNotFoundException":
                return None
            raise self._translate(exc, operation) from exc
        except BotoCoreError as exc:
            raise ComputeError(f"AWS Lambda {operation} failed: {exc}") from exc
        return answer

    def _translate(self, exc: ClientError, operation: str) -> ComputeError:
        code, message = _code(exc), exc.response.get("Error", {}).get("Message", "")
        if code == "ResourceNotFoundException":
            return ComputeError(
                f"Lambda function {self._target()!r} not found ({message}); deploy it with "
                "`signalrisk deploy aws` or set SIGNALRISK_AWS__COMPUTE_FUNCTION"
            )
        return ComputeError(
            f"AWS Lambda {operation} of {self._target()!r} failed: {code}: {message}"
        )

    def _target(self) -> str:
        return f"{self.function}:{self.qualifier}" if self.qualifier else self.function

    def _invoke(
        self, payload: dict[str, Any], throttles: list[Throttle] | None = None
    ) -> tuple[dict[str, Any], LambdaReport | None]:
        """Invoke the function once (retrying throttles, noted in ``throttles``); the answer
        and its REPORT, if any.

        A handler error is FunctionError naming the function, with the handler's message.
        """
        request: dict[str, Any] = {
            "FunctionName": self.function,
            "InvocationType": "RequestResponse",
            "LogType": "Tail",
            "Payload": json.dumps(payload).encode(),
        }
        if self.qualifier:
            request["Qualifier"] = self.qualifier
        response, raw = self._send(request, throttles)
        try:
            answer = json.loads(raw or b"null")
        except ValueError as exc:
            raise ComputeError(f"Lambda function {self._target()!r} answered non-JSON") from exc
        if response.get("FunctionError"):
            failure = answer if isinstance(answer, dict) else {"errorMessage": str(answer)}
            raise FunctionError(
                f"Lambda function {self._target()!r} failed: "
                f"{failure.get('errorType', 'Error')}: {failure.get('errorMessage', '')}"
            )
        if not isinstance(answer, dict):
            raise ComputeError(f"Lambda function {self._target()!r} answered {answer!r}")
        tail = response.get("LogResult")
        report = parse_report(base64.b64decode(tail).decode("utf-8", "replace")) if tail else None
        return answer, report

    def _send(
        self, request: dict[str, Any], throttles: list[Throttle] | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """``Invoke``, retried while throttled, ``retry_attempts`` times at most; each
        throttle ridden out is appended to ``throttles``."""
        attempt = 0
        while True:
            clock = time.perf_counter()
            try:
                response: dict[str, Any] = self.invoke_client.invoke(**request)
                return response, response["Payload"].read()
            except ClientError as exc:
                attempt += 1
                if not _throttled(exc):
                    raise self._translate(exc, "Invoke") from exc
                if throttles is not None and attempt < self.retry_attempts:
                    elapsed = time.perf_counter() - clock
                    throttles.append(Throttle(f"throttled ({_code(exc)})", time.time(), elapsed))
                if attempt >= self.retry_attempts:
                    raise ComputeError(
                        f"Lambda function {self._target()!r} still throttled after {attempt} "
                        f"attempts ({_code(exc)}): the account's concurrency is in use elsewhere"
                    ) from exc
            except BotoCoreError as exc:
                raise ComputeError(
                    f"AWS Lambda Invoke of {self._target()!r} failed: {exc}"
                ) from exc
            # Full jitter: a uniform wait up to the exponential bound spreads the retries of
            # r concurrent callers instead of having them collide again.
            bound = min(self.retry_cap_s, self.retry_base_s * 2 ** (attempt - 1))
            time.sleep(random.uniform(0, bound))

    # -- the lifecycle -------------------------------------------------------------------------

    def check_concurrency(self, r: int) -> int:
        """The concurrent executions the function can have; LimitExceeded if fewer than ``r``."""
        limits = self._call("get_account_settings").get("AccountLimit", {})
        available = int(
            limits.get("UnreservedConcurrentExecutions", limits.get("ConcurrentExecutions", 0))
        )
        if r > available:
            raise LimitExceeded(
                f"r={r} needs {r} concurrent executions of Lambda function {self.function!r}, "
                f"but the account allows {available}; lower r or ask AWS for a higher "
                "concurrency quota",
                field="r",
            )
        return available

    def launch(self, spec: ScaleSpec, indices: Sequence[int] | None = None) -> list[Resource]:
        wanted = launch_indices(spec, indices)
        suffix = resource_suffix(first_launch=indices is None)
        if self.provisioned:
            if indices is None:  # a replacement keeps the scale's provisioned concurrency
                self.check_concurrency(spec.r)
                self._call(
                    "put_provisioned_concurrency_config",
                    FunctionName=self.function,
                    Qualifier=self.qualifier,
                    ProvisionedConcurrentExecutions=spec.r,
                )
            detail = {"provisioned": spec.r, "qualifier": self.qualifier}
            return [
                Resource(
                    id=f"{spec.scale_id[:8]}:provisioned-{k}{suffix}", index=k, detail=dict(detail)
                )
                for k in wanted
            ]
        if indices is None:
            self.check_concurrency(spec.r)
        self._call("get_function", FunctionName=self.function)  # a clear error if not deployed
        # Returns at once: the r warm-up invocations are made by ``probe``, all in flight together.
        return [Resource(id=f"{spec.scale_id[:8]}:slot-{k}{suffix}", index=k) for k in wanted]

    def probe(self, spec: ScaleSpec, resources: list[Resource]) -> list[Resource]:
        if self.provisioned and any(r.state == "starting" for r in resources):
            return self._probe_provisioned(resources)
        with self._warming_lock:
            todo = [r for r in resources if r.state == "starting" and r.id not in self._warming]
            self._warming.update(r.id for r in todo)
        try:
            warmed = {r.id: r for r in in_parallel(self._warm, todo)}
        finally:
            with self._warming_lock:
                self._warming.difference_update(r.id for r in todo)
        return [warmed.get(r.id, r) for r in resources]

    def _warm(self, resource: Resource) -> Resource:
        """One warm-up invocation: the resource is ready with the billed duration of it.

        The r invocations of a scale are made concurrently, so each lands in an execution
        environment of its own when the function is cold; ``detail["environment"]`` says which.
        """
        try:
            answer, report = self._invoke(WARMUP)
        except ComputeError as exc:
            log.warning("warm-up invocation failed: %s", exc)
            return resource  # still starting: the next probe tries again, until the deadline
        return resource.evolve(
            state="ready",
            warm_billed_ms=_billed_ms(report, answer),
            detail={"environment": str(answer.get("resource_id", ""))},
        )

    def _probe_provisioned(self, resources: list[Resource]) -> list[Resource]:
        config = self._call(
            "get_provisioned_concurrency_config",
            FunctionName=self.function,
            Qualifier=self.qualifier,
        )
        status = config.get("Status")
        if status == "READY":
            # The provisioned environments ran INIT when allocated: nothing per invocation.
            state = "ready"
        elif status == "FAILED":
            state = "dead"
            log.error("provisioned concurrency failed: %s", config.get("StatusReason"))
        else:
            return resources
        return [
            r.evolve(state=state, warm_billed_ms=0.0) if r.state == "starting" else r
            for r in resources
        ]

    def endpoints(self, spec: ScaleSpec, resources: list[Resource], api_url: str) -> dict[str, str]:
        """The function's Invoke API URL, with a SigV4-signed curl call that invokes it."""
        base = str(self.client.meta.endpoint_url).rstrip("/")
        url = f"{base}/2015-03-31/functions/{quote(self.function, safe='')}/invocations"
        if self.qualifier:
            url += f"?Qualifier={quote(self.qualifier, safe='')}"
        region = self.client.meta.region_name
        command = (
            f"curl --aws-sigv4 'aws:amz:{region}:lambda'"
            ' --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"'
            f" -H 'Content-Type: application/json' -d {shlex.quote(SAMPLE_PAYLOAD)}"
            f" {shlex.quote(url)}"
        )
        return {url: command}

    def run_batch(
        self, spec: ScaleSpec, resource: Resource, payload: dict[str, Any]
    ) -> BatchResult:
        # Lambda chooses the environment; ``resource`` only fixes the batch's stream (its
        # resource_index is in the payload), so the numbers do not depend on who runs it.
        throttles: list[Throttle] = []
        answer, report = self._invoke(payload, throttles)
        try:
            result = batch_result(answer, billed_ms=_billed_ms(report, answer))
            return replace(result, throttled=tuple(throttles))
        except (KeyError, TypeError, ValueError) as exc:
            raise ComputeError(
                f"Lambda function {self._target()!r} answered without a batch result: {exc!r}"
            ) from exc

    def invoke(
        self, spec: ScaleSpec, resource: Resource, payload: dict[str, Any]
    ) -> dict[str, Any]:
        answer, _ = self._invoke(payload)
        return answer

    def stop_hung(self, spec: ScaleSpec, resource: Resource) -> None:
        """Nothing to do: Lambda itself stops an environment whose invocation timed out."""

    def terminate(self, spec: ScaleSpec, resources: list[Resource]) -> None:
        """Delete the provisioned concurrency (idempotent); on-demand, nothing to stop:
        idle environments cost nothing and Lambda reclaims them."""
        if any(r.detail.get("provisioned") for r in resources):
            self._call_or_none(
                "delete_provisioned_concurrency_config",
                missing_ok=True,
                FunctionName=self.function,
                Qualifier=self.qualifier,
            )

    def gone(self, spec: ScaleSpec, resources: list[Resource]) -> list[bool]:
        if not any(r.detail.get("provisioned") for r in resources):
            return [True for _ in resources]
        config = self._call_or_none(
            "get_provisioned_concurrency_config",
            missing_ok=True,
            FunctionName=self.function,
            Qualifier=self.qualifier,
        )
        return [config is None for _ in resources]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "?"))


def _throttled(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(exc) == "TooManyRequestsException" or status == 429


def _billed_ms(report: LambdaReport | None, answer: dict[str, Any]) -> float:
    """What Lambda bills for one invocation: its REPORT line, INIT included.

    Without a log tail (an emulator that sends none), the handler's own duration rounded up
    to Lambda's 1 ms granularity stands in, and the fallback is logged.
    """
    if report is not None:
        return report.billed_total_ms
    log.warning("no Lambda log tail: billing the handler's own duration instead")
    return max(1.0, float(math.ceil(float(answer.get("duration_ms", 0.0)))))
