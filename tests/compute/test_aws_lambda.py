"""The aws lambda provider against the local Lambda service: real boto3 -> HTTP -> shim ->
awslambdaric -> our compute handler, one process per execution environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from signalrisk.compute.aws_lambda import AwsLambdaProvider
from signalrisk.compute.base import ComputeProvider, Invocable, Resource, ScaleSpec
from signalrisk.compute.registry import compute_provider
from signalrisk.core.config import AwsSettings, Settings
from signalrisk.core.errors import ComputeError, FunctionError, LimitExceeded
from signalrisk.quant.var import simulate_var
from tests.infra.lambda_shim import LambdaShim

FUNCTION = "signalrisk-compute"
# About 0.1 s of handler time: long enough for concurrent invocations to overlap.
HEAVY = {"mean": [0.001] * 8, "std": [0.02] * 8, "shots": 5_000_000, "seed": 5}


def provider_for(tmp_path: Path, **aws: Any) -> AwsLambdaProvider:
    settings = Settings(platform="aws", home=tmp_path, aws=AwsSettings(**aws))
    return AwsLambdaProvider(settings)


def scale(r: int) -> ScaleSpec:
    return ScaleSpec(scale_id=secrets.token_hex(16), service="lambda", r=r, secret="unused")


def warm(provider: AwsLambdaProvider, spec: ScaleSpec) -> list[Resource]:
    return provider.probe(spec, provider.launch(spec))


def test_launch_warms_r_distinct_execution_environments(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path)
    spec = scale(3)
    launched = provider.launch(spec)  # at once: one slot per resource, nothing invoked yet
    assert [r.state for r in launched] == ["starting"] * 3
    assert lambda_shim.environments(FUNCTION) == []
    assert len({r.id for r in launched}) == 3
    assert all(r.id.startswith(spec.scale_id[:8]) for r in launched)
    assert [r.index for r in launched] == [0, 1, 2]

    ready = provider.probe(spec, launched)  # the r warm-up invocations, all in flight together
    assert [r.state for r in ready] == ["ready"] * 3
    environments = {r.detail["environment"] for r in ready}
    assert len(environments) == 3
    assert environments == {e.stream for e in lambda_shim.environments(FUNCTION)}
    # Cold starts: each warm-up's billed duration counts its environment's INIT.
    inits = {e.stream: e.init_ms or 0.0 for e in lambda_shim.environments(FUNCTION)}
    for resource in ready:
        assert resource.warm_billed_ms is not None
        assert resource.warm_billed_ms >= inits[resource.detail["environment"]] > 0
    assert provider.probe(spec, ready) == ready

    provider.terminate(spec, ready)  # on-demand: nothing to stop
    assert provider.gone(spec, ready) == [True, True, True]


def test_launch_indices_gives_new_slots_of_those_indices(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path)
    spec = scale(3)
    first = provider.launch(spec)
    again = provider.launch(spec, [2, 0])  # replacements: new ids, the indices asked for
    assert [r.index for r in again] == [2, 0]
    assert not {r.id for r in again} & {r.id for r in first}
    assert all(r.id.startswith(spec.scale_id[:8]) for r in again)
    ready = provider.probe(spec, again)  # warmed as a first launch is
    assert [r.state for r in ready] == ["ready", "ready"]


def test_run_batch_gives_the_numbers_of_simulate_var(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path)
    spec = scale(1)
    [resource] = warm(provider, spec)
    means, stds = [0.001, -0.002, 0.0005], [0.02, 0.031, 0.015]
    payload = {"mean": means, "std": stds, "shots": 20_000, "seed": 11, "resource_index": 2}

    result = provider.run_batch(spec, resource, payload)

    expected = simulate_var(np.array(means), np.array(stds), 20_000, 11, 2)
    assert result.var95 == expected.var95.tolist()
    assert result.var99 == expected.var99.tolist()
    assert result.resource_index == 2
    assert result.resource_id == resource.detail["environment"]
    assert result.billed_ms >= 1  # from the REPORT line of the log tail
    assert float(result.billed_ms).is_integer()


def test_run_batch_r3_concurrent_invocations_overlap(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path)
    spec = scale(3)
    resources = warm(provider, spec)
    with ThreadPoolExecutor(3) as pool:
        results = list(
            pool.map(
                lambda r: provider.run_batch(spec, r, {**HEAVY, "resource_index": r.index}),
                resources,
            )
        )
    assert max(b.started for b in results) < min(b.finished for b in results)
    assert len({b.resource_id for b in results}) == 3
    assert all(b.billed_ms > 0 for b in results)


def test_invoke_bad_payload_is_a_function_error_naming_the_function(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path)
    spec = scale(1)
    [resource] = warm(provider, spec)
    assert isinstance(provider, Invocable)
    answer = provider.invoke(spec, resource, {"mean": 0.001, "std": 0.02, "shots": 1000})
    assert isinstance(answer["var95"], float)

    with pytest.raises(FunctionError, match=f"'{FUNCTION}'.*ValueError: mean must be"):
        provider.invoke(spec, resource, {"mean": "x", "std": 0.02, "shots": 1000})


def test_throttled_invocation_is_retried_until_it_runs(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path)
    spec = scale(1)
    [resource] = warm(provider, spec)
    lambda_shim.concurrency_limit = 1
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(
                lambda k: provider.run_batch(spec, resource, {**HEAVY, "resource_index": k}), [0, 1]
            )
        )
    assert [b.resource_index for b in results] == [0, 1]
    assert lambda_shim.throttled >= 1


def test_throttling_gives_up_after_bounded_attempts(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path)
    provider.retry_attempts, provider.retry_base_s = 3, 0.01
    lambda_shim.concurrency_limit = 0
    resource = Resource(id="any", index=0)
    with pytest.raises(ComputeError, match="still throttled after 3 attempts"):
        provider.run_batch(scale(1), resource, {**HEAVY, "resource_index": 0})
    assert lambda_shim.throttled == 3


def test_launch_refuses_r_above_the_account_concurrency(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    lambda_shim.concurrency_limit = 2
    provider = provider_for(tmp_path)
    with pytest.raises(LimitExceeded, match="r=3 needs 3 concurrent executions") as caught:
        provider.launch(scale(3))
    assert caught.value.field == "r"
    assert lambda_shim.environments(FUNCTION) == []  # refused before anything ran


def test_unknown_function_is_a_clear_compute_error(lambda_shim: LambdaShim, tmp_path: Path) -> None:
    provider = provider_for(tmp_path, compute_function="no-such-function")
    with pytest.raises(ComputeError, match="'no-such-function' not found") as caught:
        provider.launch(scale(1))
    assert not isinstance(caught.value, FunctionError)


def test_endpoints_give_the_invoke_url_and_a_sigv4_curl_that_works(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path)
    spec = scale(1)
    resources = warm(provider, spec)
    endpoints = provider.endpoints(spec, resources, "http://127.0.0.1:1")
    url = f"{lambda_shim.url}/2015-03-31/functions/{FUNCTION}/invocations"
    assert list(endpoints) == [url]
    command = endpoints[url]
    assert command.startswith("curl --aws-sigv4 'aws:amz:us-east-1:lambda'")
    assert '--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"' in command
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert '"var95"' in done.stdout


def test_provisioned_concurrency_readiness_follows_its_status(
    lambda_shim: LambdaShim, tmp_path: Path
) -> None:
    provider = provider_for(tmp_path, provisioned_concurrency=True)
    spec = scale(2)
    resources = provider.launch(spec)
    assert [r.state for r in resources] == ["starting", "starting"]
    assert all(r.detail["qualifier"] == "live" for r in resources)
    deadline = time.monotonic() + 20
    while any(r.state == "starting" for r in resources) and time.monotonic() < deadline:
        time.sleep(0.1)
        resources = provider.probe(spec, resources)
    assert [r.state for r in resources] == ["ready", "ready"]
    assert len(lambda_shim.environments(FUNCTION)) == 2

    result = provider.run_batch(spec, resources[0], {**HEAVY, "shots": 1000, "resource_index": 0})
    assert result.resource_id in {e.stream for e in lambda_shim.environments(FUNCTION)}
    assert provider.gone(spec, resources) == [False, False]

    provider.terminate(spec, resources)
    provider.terminate(spec, resources)  # idempotent
    assert provider.gone(spec, resources) == [True, True]
    assert lambda_shim.environments(FUNCTION) == []


def test_registry_builds_the_aws_lambda_provider(lambda_shim: LambdaShim, tmp_path: Path) -> None:
    with httpx.Client() as client:
        provider = compute_provider(Settings(platform="aws", home=tmp_path), "lambda", client)
    assert isinstance(provider, AwsLambdaProvider)
    assert isinstance(provider, ComputeProvider)
    assert isinstance(provider, Invocable)
