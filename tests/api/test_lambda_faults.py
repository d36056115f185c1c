"""Lambda faults at the API, on platform aws (reliability, item 3): throttled and failing
invocations, injected by the local Lambda service (tests/infra/lambda_shim.py) on the wire.

The contract: a few throttled invocations are retried with backoff by the provider, and a
batch whose invocation fails (a handler error, a dead runtime) is retried by the dispatch, so
the analysis answers 200 with numbers bit-identical to a fault-free run of the same seed.
Faults that persist fail the analysis cleanly: 502 ``compute_error`` in the one error shape,
naming the function; the run is recorded failed with exactly one audit record; the scale is
``ready`` again and the next analysis runs. Throttled warm-up invocations are retried until
the warm-up deadline, which a warm-up throttled throughout fails at.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from signalrisk.core.config import AwsSettings, Settings
from tests.api.test_aws_workflow import InProcessApi
from tests.infra.lambda_shim import FaultKind, LambdaShim, is_batch, is_warmup
from tests.infra.moto import MotoServer

FUNCTION = "signalrisk-compute"
BUCKET = f"signalrisk-audit-lambda-faults-{time.time_ns()}"
ANALYSIS = {"h": "101", "d": "2000", "t": "sell", "p": "7", "seed": "4242"}
R = 3


@dataclass
class Stack:
    """An API on platform aws, its Lambda service, and a fault-free run's numbers."""

    api: InProcessApi
    shim: LambdaShim
    http: httpx.Client
    settings: Settings
    baseline: dict[str, Any]


def settings_for(home: Path, **overrides: Any) -> Settings:
    aws = AwsSettings(
        bucket=BUCKET, deployment="faulttest", invoke_attempts=4, invoke_backoff_s=0.02
    )
    return Settings(platform="aws", home=home, heartbeat_interval_s=0.5, aws=aws, **overrides)


def wait_for_state(http: httpx.Client, states: set[str], timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        scale: dict[str, Any] = http.get("/v1/scale").json()
        if scale["state"] in states:
            return scale
        assert time.monotonic() < deadline, f"scale still {scale['state']}, not {states}"
        time.sleep(0.05)


def numbers(http: httpx.Client, run_id: str) -> dict[str, Any]:
    """Everything an analysis computed: per resource, per signal, averages and P/L."""
    run = http.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "ok", run
    return {
        "by_resource": (run["var95_by_resource"], run["var99_by_resource"]),
        "sig_vars": http.get("/get_sig_vars9599").json(),
        "avg_vars": http.get("/get_avg_vars9599").json(),
        "profit_loss": (
            http.get("/get_sig_profit_loss").json(),
            http.get("/get_tot_profit_loss").json(),
        ),
    }


def analyse_ok(http: httpx.Client) -> str:
    response = http.post("/analyse", json=ANALYSIS)
    assert response.status_code == 200, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def given(shim: LambdaShim, kind: FaultKind) -> int:
    return sum(f.kind == kind for f in shim.faults_given)


@pytest.fixture(scope="module")
def stack(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One API, warmed up (r = 3) through three throttled warm-up invocations, and the
    numbers of a fault-free analysis."""
    moto_server.reset()
    with pytest.MonkeyPatch.context() as env:
        for name, value in moto_server.env().items():
            env.setenv(name, value)
        shim = LambdaShim(concurrency_limit=10)
        shim.register(FUNCTION, "signalrisk.workers.compute.handler", env=moto_server.env())
        shim.start()
        env.setenv("AWS_ENDPOINT_URL_LAMBDA", shim.url)
        boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)
        settings = settings_for(tmp_path_factory.mktemp("home"))
        api = InProcessApi(settings)
        api.start()
        http = httpx.Client(base_url=api.url, timeout=60)
        try:
            throttles = shim.inject("throttle", 3, when=is_warmup)
            assert http.post("/warmup", json={"s": "lambda", "r": str(R)}).status_code == 200
            wait_for_state(http, {"ready"})
            assert throttles.times == 0  # every injected throttle was met, and ridden out
            baseline = numbers(http, analyse_ok(http))
            yield Stack(api, shim, http, settings, baseline)
        finally:
            http.close()
            api.stop()
            shim.stop()


@pytest.fixture
def faults(stack: Stack) -> Iterator[LambdaShim]:
    """The stack's Lambda service, with no fault left over afterwards."""
    yield stack.shim
    stack.shim.clear_faults()


def test_warmup_rides_out_throttled_invocations(stack: Stack) -> None:
    warmups = [f for f in stack.shim.faults_given if is_warmup(f.payload)]
    assert [f.kind for f in warmups] == ["throttle"] * 3
    scale = stack.http.get("/v1/scale").json()
    assert scale["state"] == "ready" and scale["error"] is None
    assert [r["state"] for r in scale["resources"]] == ["ready"] * R
    assert stack.http.get("/scaled_ready").json() == {"warm": "true"}


def test_analyse_rides_out_throttled_invocations_with_identical_numbers(
    stack: Stack, faults: LambdaShim
) -> None:
    before = given(faults, "throttle")
    injected = faults.inject("throttle", 5, when=is_batch)
    run_id = analyse_ok(stack.http)
    assert injected.times == 0 and given(faults, "throttle") - before == 5
    assert numbers(stack.http, run_id) == stack.baseline
    # Each throttle is in the run's faults, on the batch's own resource, and billed nothing.
    run = stack.http.get(f"/v1/runs/{run_id}").json()
    throttled = [f for f in run["faults"] if f["kind"] == "throttled"]
    assert len(throttled) == 5 == len(run["faults"]), run["faults"]
    for fault in throttled:
        assert "TooManyRequestsException" in fault["error"]
        assert fault["retried_on"] == fault["resource"]
        assert fault["billed_ms"] == 0.0 and fault["at"] >= run["created_at"]


@pytest.mark.parametrize("kind", ["error", "crash"])
def test_analyse_retries_a_failed_invocation_with_identical_numbers(
    stack: Stack, faults: LambdaShim, kind: FaultKind
) -> None:
    injected = faults.inject(kind, 1, when=is_batch)
    run_id = analyse_ok(stack.http)
    assert injected.times == 0  # the fault was met: one batch failed, and was run again
    assert numbers(stack.http, run_id) == stack.baseline
    assert stack.http.get("/v1/scale").json()["state"] == "ready"


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("error", "InjectedFault: the handler fell over"),
        ("throttle", "still throttled after 4 attempts"),
    ],
)
def test_analyse_fails_cleanly_when_every_invocation_fails(
    stack: Stack, faults: LambdaShim, kind: FaultKind, says: str
) -> None:
    http = stack.http
    faults.inject(kind, None, when=is_batch, message="the handler fell over")
    response = http.post("/analyse", json=ANALYSIS)
    faults.clear_faults()

    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "compute_error"
    assert f"Lambda function '{FUNCTION}'" in error["message"] and says in error["message"]
    assert "Traceback" not in error["message"]

    run = http.get("/v1/runs", params={"limit": 1000}).json()["items"][-1]
    assert run["status"] == "failed" and says in run["error"]
    records = [a for a in http.get("/get_audit").json() if a["run_id"] == run["run_id"]]
    assert [(a["status"], a["s"], a["platform"]) for a in records] == [("failed", "lambda", "aws")]
    assert says in records[0]["error"]
    scale = http.get("/v1/scale").json()
    assert scale["state"] == "ready" and [r["state"] for r in scale["resources"]] == ["ready"] * R
    assert http.get("/scaled_ready").json() == {"warm": "true"}
    # Consistent: the next analysis runs on the same scale, and gives the same numbers.
    assert numbers(http, analyse_ok(http)) == stack.baseline


def test_warmup_throttled_throughout_fails_at_its_deadline(
    stack: Stack, faults: LambdaShim, tmp_path: Path
) -> None:
    api = InProcessApi(settings_for(tmp_path / "home", warmup_deadline_s=2.0))
    api.start()
    http = httpx.Client(base_url=api.url, timeout=60)
    try:
        before = given(faults, "throttle")
        environments = len(faults.environments(FUNCTION))
        faults.inject("throttle", None, when=is_warmup)
        assert http.post("/warmup", json={"s": "lambda", "r": "2"}).status_code == 200
        failed = wait_for_state(http, {"failed", "ready"})
        assert failed["state"] == "failed", failed
        assert "not ready within 2 s" in failed["error"]
        assert http.get("/scaled_ready").json() == {"warm": "false"}
        assert http.post("/analyse", json=ANALYSIS).json()["error"]["code"] == "not_warm"
        assert given(faults, "throttle") - before >= 2 * 4  # each slot: 4 attempts at least
        assert len(faults.environments(FUNCTION)) == environments  # throttled: none started

        faults.clear_faults()  # capacity is back: a new warm-up succeeds
        assert http.post("/warmup", json={"s": "lambda", "r": "2"}).status_code == 200
        assert wait_for_state(http, {"ready", "failed"})["state"] == "ready"
    finally:
        http.close()
        api.stop()
