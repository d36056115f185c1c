"""``s = ec2`` on the aws platform: the EC2 fleet, the manager over it, the provider, user-data.

EC2 is moto (strict instance-type and AMI checks on). An emulated instance runs nothing, so the
lifecycle test starts, for each instance, a real worker process on 127.0.0.1 with the secret read
back from the instance's user-data, and maps the instance's public DNS name to it through the
fleet's ``resolve`` seam: describe, DNS name, HTTP, worker and numbers are all the real code.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shlex
import signal
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from signalrisk.compute.aws_ec2 import AwsEc2Provider, direct_manager, lambda_manager
from signalrisk.compute.base import Resource, ScaleSpec
from signalrisk.compute.ec2fleet import DEFAULT_AMI_PARAMETER, DEPLOYMENT_TAG, Ec2Fleet
from signalrisk.compute.localproc import WorkerProcess, kill_worker, spawn_worker
from signalrisk.compute.registry import compute_provider
from signalrisk.compute.userdata import (
    SECRET_VARIABLE,
    env_file,
    render_install_script,
    render_user_data,
    unit_file,
)
from signalrisk.core.config import AwsSettings, Settings
from signalrisk.core.errors import ComputeError
from signalrisk.quant.var import simulate_var
from signalrisk.workers import ec2_manager
from signalrisk.workers.ec2_manager import SCALE_TAG, handle
from tests.infra.ec2boot import secret_in_user_data, user_data
from tests.infra.moto import ACCOUNT_ID, REGION, MotoServer
from tests.server import free_port

REPO = Path(__file__).resolve().parents[2]
SECRET = "aws-ec2-test-secret_0123456789"
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{17}$")
DEPLOYMENT = "sr-test"
MEANS, STDS = [0.001, -0.002, 0.0005], [0.02, 0.031, 0.015]


# -- helpers -----------------------------------------------------------------------------


def wait_for(check: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def raw_instances(ec2: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    pages = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i for page in pages for i in page["Instances"]}


def command_lines(script: str) -> list[str]:
    """The lines bash runs as commands: everything but here-document bodies."""
    commands, terminator = [], None
    for line in script.splitlines():
        if terminator is not None:
            terminator = None if line == terminator else terminator
            continue
        commands.append(line)
        opener = re.search(r"<<-?\s*'?([A-Za-z_]+)'?", line)
        if opener:
            terminator = opener.group(1)
    return commands


def tags_of(raw: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.get("Tags", [])}


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def ec2(aws: MotoServer) -> Any:
    return boto3.client("ec2")


@pytest.fixture
def ami(ec2: Any) -> str:
    """An Amazon Linux 2023 image that moto's strict AMI check accepts."""
    al2023 = [{"Name": "name", "Values": ["al2023-ami-2023*-x86_64"]}]
    images = ec2.describe_images(Owners=["amazon"], Filters=al2023)["Images"]
    return str(images[0]["ImageId"])


@pytest.fixture
def settings(ami: str) -> AwsSettings:
    return AwsSettings(ami=ami, deployment=DEPLOYMENT)


@pytest.fixture
def fleet(settings: AwsSettings) -> Ec2Fleet:
    return Ec2Fleet(settings)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


# -- Ec2Fleet ----------------------------------------------------------------------------


def test_run_instances_tagged_with_user_data_and_launch_options(
    fleet: Ec2Fleet, ec2: Any, settings: AwsSettings, ami: str
) -> None:
    ids = fleet.run(2, {SCALE_TAG: "scale-a"}, SECRET)
    assert len(ids) == 2 and all(INSTANCE_ID.match(i) for i in ids)
    for instance_id, raw in raw_instances(ec2, ids).items():
        assert tags_of(raw) == {
            "project": "signalrisk",
            DEPLOYMENT_TAG: DEPLOYMENT,
            SCALE_TAG: "scale-a",
            "Name": f"{DEPLOYMENT}-worker",
        }
        assert raw["ImageId"] == ami and raw["InstanceType"] == "t2.micro"
        assert raw["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
        behaviour = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )
        assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        assert user_data(ec2, instance_id) == render_user_data(SECRET, settings)
    # No group configured: the deployment's own, admitting the configured range on the port.
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{DEPLOYMENT}-workers"]}]
    )["SecurityGroups"]
    (rule,) = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (8080, 8080)
    assert rule["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"
    fleet.run(1, {SCALE_TAG: "scale-b"}, SECRET)  # a second launch reuses the group
    same_name = [{"Name": "group-name", "Values": [group["GroupName"]]}]
    assert len(ec2.describe_security_groups(Filters=same_name)["SecurityGroups"]) == 1


def test_run_instances_with_subnet_group_key_and_profile_from_settings(
    aws: MotoServer, ec2: Any, ami: str
) -> None:
    subnet = ec2.describe_subnets()["Subnets"][0]
    group = ec2.create_security_group(GroupName="mine", Description="x", VpcId=subnet["VpcId"])[
        "GroupId"
    ]
    ec2.create_key_pair(KeyName="ops")
    profile = boto3.client("iam").create_instance_profile(InstanceProfileName="worker")
    settings = AwsSettings(
        ami=ami,
        deployment=DEPLOYMENT,
        instance_type="t3.small",
        subnet_id=subnet["SubnetId"],
        security_group_id=group,
        key_name="ops",
        instance_profile="worker",
    )
    (instance_id,) = Ec2Fleet(settings).run(1, {SCALE_TAG: "s"}, SECRET)
    raw = raw_instances(ec2, [instance_id])[instance_id]
    assert raw["SubnetId"] == subnet["SubnetId"] and raw["InstanceType"] == "t3.small"
    assert raw["KeyName"] == "ops"
    assert raw["IamInstanceProfile"]["Arn"] == profile["InstanceProfile"]["Arn"]
    groups = {g["GroupId"] for ni in raw["NetworkInterfaces"] for g in ni["Groups"]}
    assert group in groups
    assert raw.get("PublicDnsName")  # a public address, so that the API can reach it


def test_run_instances_default_ami_from_ssm_parameter(aws: MotoServer, ec2: Any) -> None:
    expected = boto3.client("ssm").get_parameter(Name=DEFAULT_AMI_PARAMETER)["Parameter"]["Value"]
    (instance_id,) = Ec2Fleet(AwsSettings(deployment=DEPLOYMENT)).run(1, {}, SECRET)
    assert raw_instances(ec2, [instance_id])[instance_id]["ImageId"] == expected


def test_describe_instances_running_at_public_dns_url(fleet: Ec2Fleet, ec2: Any) -> None:
    ids = fleet.run(2, {SCALE_TAG: "s"}, SECRET)
    raw = raw_instances(ec2, ids)
    described = fleet.describe(ids)
    assert [i.id for i in described] == ids
    for instance in described:
        assert instance.state == "running"
        assert instance.address == f"http://{raw[instance.id]['PublicDnsName']}:8080"
        assert instance.create_time == raw[instance.id]["LaunchTime"].timestamp()
    assert fleet.describe([]) == []


def test_describe_instances_pending_stopped_unknown_and_bad_ids(fleet: Ec2Fleet, ec2: Any) -> None:
    from moto.ec2.models import ec2_backends  # in-process server: reach into its state

    booting, stopped = fleet.run(2, {SCALE_TAG: "s"}, SECRET)
    state = ec2_backends[ACCOUNT_ID][REGION].get_instance(booting)._state
    state.name, state.code = "pending", 0
    ec2.stop_instances(InstanceIds=[stopped])
    unknown = "i-0123456789abcdef0"
    pending, halted, gone = fleet.describe([booting, stopped, unknown])
    assert (pending.state, pending.address) == ("pending", None)
    assert (halted.state, halted.address) == ("shutting-down", None)
    assert (gone.state, gone.address) == ("terminated", None)
    for bad in ("../escape", "i-../../x", "x-123", "i-"):
        with pytest.raises(ValueError, match="not an instance id"):
            fleet.describe([bad])


def test_find_instances_by_tag_after_ids_lost(
    fleet: Ec2Fleet, settings: AwsSettings, ec2: Any
) -> None:
    first = fleet.run(2, {SCALE_TAG: "scale-a"}, SECRET)
    second = fleet.run(1, {SCALE_TAG: "scale-b"}, SECRET)
    other_deployment = Ec2Fleet(settings.model_copy(update={"deployment": "other"}))
    foreign = other_deployment.run(1, {SCALE_TAG: "scale-a"}, SECRET)
    # The ids are "lost": only the tags are left to go by.
    assert fleet.find({SCALE_TAG: "scale-a"}) == sorted(first)
    assert fleet.find({SCALE_TAG: "scale-b"}) == second
    assert fleet.find({}) == sorted(first + second)  # the whole deployment, nothing else
    assert other_deployment.find({}) == foreign
    assert fleet.find({SCALE_TAG: "scale-c"}) == []
    fleet.terminate(fleet.find({SCALE_TAG: "scale-a"}))
    assert fleet.find({SCALE_TAG: "scale-a"}) == []
    assert fleet.find({}) == second


def test_terminate_instances_repeatable_and_unknown_ids_skipped(fleet: Ec2Fleet) -> None:
    ids = fleet.run(2, {SCALE_TAG: "s"}, SECRET)
    fleet.terminate(ids)
    assert {i.state for i in fleet.describe(ids)} <= {"shutting-down", "terminated"}
    wait_for(lambda: {i.state for i in fleet.describe(ids)} == {"terminated"}, what="terminated")
    fleet.terminate([*ids, "i-0123456789abcdef0"])  # again, plus one EC2 never heard of
    fleet.terminate([])


def test_run_instances_unknown_type_raises_compute_error(aws: MotoServer, ami: str) -> None:
    fleet = Ec2Fleet(AwsSettings(ami=ami, instance_type="t2.gigantic"))
    with pytest.raises(ComputeError, match=r"t2\.gigantic is not offered") as caught:
        fleet.run(1, {SCALE_TAG: "s"}, SECRET)
    assert isinstance(caught.value.__cause__, ClientError)  # translated once, at the boundary
    assert fleet.find({}) == []


def test_run_instances_unknown_ami_raises_compute_error(aws: MotoServer) -> None:
    fleet = Ec2Fleet(AwsSettings(ami="ami-00000000000000000"))
    with pytest.raises(ComputeError, match="AMI ami-00000000000000000 does not exist"):
        fleet.run(1, {SCALE_TAG: "s"}, SECRET)


@pytest.mark.parametrize(
    ("code", "explained"),
    [
        ("InsufficientInstanceCapacity", "no spare t3.micro capacity in this zone"),
        ("InstanceLimitExceeded", "instance quota is reached; lower r"),
        ("VcpuLimitExceeded", "vCPU quota for on-demand t3.micro instances is reached"),
        ("InsufficientFreeAddressesInSubnet", "no free addresses"),
        ("SomethingNew", "see the AWS message"),
    ],
)
def test_run_instances_capacity_or_quota_error_raises_compute_error(
    code: str, explained: str
) -> None:
    client = boto3.client(
        "ec2",
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )
    settings = AwsSettings(ami="ami-0123456789abcdef0", instance_type="t3.micro")
    fleet = Ec2Fleet(
        settings.model_copy(update={"security_group_id": "sg-0123456789abcdef0"}), client
    )
    with Stubber(client) as stubber:
        stubber.add_client_error("run_instances", code, "We currently do not have it.", 400)
        with pytest.raises(ComputeError) as caught:
            fleet.run(3, {SCALE_TAG: "s"}, SECRET)
    message = str(caught.value)
    assert f"({code})" in message and explained in message
    assert "We currently do not have it." in message


def test_describe_instances_unreachable_endpoint_raises_compute_error() -> None:
    client = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(ComputeError, match="describe_instances failed"):
        Ec2Fleet(AwsSettings(), client).describe(["i-0123456789abcdef0"])


# -- the EC2 manager over Ec2Fleet -------------------------------------------------------


def test_manager_actions_over_ec2_fleet(fleet: Ec2Fleet, ec2: Any) -> None:
    created = handle({"action": "create", "r": "2", "scale_id": "scale-m", "secret": SECRET}, fleet)
    ids = created["ids"]
    assert len(ids) == 2 and all(INSTANCE_ID.match(i) for i in ids)
    assert all(tags_of(r)[SCALE_TAG] == "scale-m" for r in raw_instances(ec2, ids).values())
    answer = handle({"action": "confirm_creation", "ids": ids}, fleet)  # moto: running at once
    raw = raw_instances(ec2, ids)
    assert answer["warm"] == "true"
    assert answer["instances_dns"] == [f"http://{raw[i]['PublicDnsName']}:8080" for i in ids]
    pending = handle({"action": "confirm_termination", "ids": ids}, fleet)
    assert (pending["result"], pending["terminated"]) == ("pending", "false")
    # A crash lost the second id: terminating with the scale id still finds it by its tag.
    assert handle({"action": "terminate", "ids": ids[:1], "scale_id": "scale-m"}, fleet) == {
        "result": "ok"
    }
    done = handle({"action": "confirm_termination", "ids": ids}, fleet)
    assert (done["result"], done["terminated"]) == ("ok", "true")
    assert handle({"action": "confirm_creation", "ids": ids}, fleet)["warm"] == "false"


def test_manager_handler_uses_aws_fleet_from_environment(
    aws: MotoServer, ami: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALRISK_FLEET", "aws")
    monkeypatch.setenv("SIGNALRISK_AWS__AMI", ami)
    monkeypatch.setenv("SIGNALRISK_AWS__DEPLOYMENT", "from-env")
    fleet = ec2_manager.fleet_from_environment()
    assert isinstance(fleet, Ec2Fleet) and fleet.settings.deployment == "from-env"
    ids = ec2_manager.handler({"action": "create", "r": 1, "scale_id": "e", "secret": SECRET})[
        "ids"
    ]
    assert fleet.find({SCALE_TAG: "e"}) == ids


# -- the provider ------------------------------------------------------------------------


def test_provider_lifecycle_runs_batches_on_real_workers(
    settings: AwsSettings, ec2: Any, http: httpx.Client, tmp_path: Path
) -> None:
    routes: dict[str, str] = {}  # instance address -> the local worker standing in for it
    provider = AwsEc2Provider(direct_manager(settings, resolve=routes.__getitem__), http, 30.0)
    spec = ScaleSpec("scale-life", "ec2", 3, secrets.token_urlsafe(32))
    workers: list[WorkerProcess] = []
    try:
        resources = provider.launch(spec)
        assert [r.index for r in resources] == [0, 1, 2]
        raw = raw_instances(ec2, [r.id for r in resources])
        for resource in resources:
            # The secret reaches the worker only through the user-data, as on an instance.
            secret = secret_in_user_data(ec2, resource.id)
            assert secret == spec.secret
            worker = spawn_worker(resource.id, spec.scale_id, secret, 60.0, tmp_path / "logs")
            workers.append(worker)
            dns = raw[resource.id]["PublicDnsName"]
            routes[f"http://{dns}:{settings.worker_port}"] = worker.url

        def all_ready() -> bool:
            nonlocal resources
            resources = provider.probe(spec, resources)
            return all(r.state == "ready" for r in resources)

        wait_for(all_ready, what="every instance running and its worker healthy")
        assert [r.address for r in resources] == [w.url for w in workers]
        assert set(provider.endpoints(spec, resources, "http://api")) == {
            f"{w.url}/" for w in workers
        }
        for resource in resources:
            payload = {"mean": MEANS, "std": STDS, "shots": 2000, "seed": 7}
            result = provider.run_batch(
                spec, resource, {**payload, "resource_index": resource.index}
            )
            expected = simulate_var(np.array(MEANS), np.array(STDS), 2000, 7, resource.index)
            assert result.var95 == expected.var95.tolist()
            assert result.var99 == expected.var99.tolist()
            assert (result.resource_id, result.resource_index) == (resource.id, resource.index)
            assert result.billed_ms > 0
        provider.terminate(spec, resources)
        wait_for(lambda: all(provider.gone(spec, resources)), what="instances terminated")
        assert [r.state for r in provider.probe(spec, resources)] == ["dead"] * 3
        assert Ec2Fleet(settings).find({SCALE_TAG: spec.scale_id}) == []
    finally:
        for worker in workers:
            kill_worker(worker.pid, worker.create_time)


def test_probe_marks_instance_terminated_behind_our_back_dead(
    settings: AwsSettings, ec2: Any, http: httpx.Client
) -> None:
    """An instance whose worker went idle powers off, and so terminates: the scale sees it."""
    provider = AwsEc2Provider(direct_manager(settings), http, 5.0)
    spec = ScaleSpec("scale-dies", "ec2", 1, SECRET)
    (resource,) = provider.launch(spec)
    ec2.terminate_instances(InstanceIds=[resource.id])
    (probed,) = provider.probe(spec, [resource])
    assert probed.state == "dead"


def test_launch_indices_replaces_dead_instance_with_new_tagged_one(
    settings: AwsSettings, ec2: Any, http: httpx.Client
) -> None:
    """A replacement: one new instance for index 1 alone, tagged with the scale like the rest."""
    provider = AwsEc2Provider(direct_manager(settings), http, 5.0)
    spec = ScaleSpec("scale-repair", "ec2", 2, SECRET)
    first = provider.launch(spec)
    ec2.terminate_instances(InstanceIds=[first[1].id])
    (new,) = provider.launch(spec, [1])
    assert new.index == 1 and new.id not in {r.id for r in first}
    fleet = Ec2Fleet(settings)
    assert sorted(fleet.find({SCALE_TAG: spec.scale_id})) == sorted([first[0].id, new.id])
    provider.terminate(spec, [*first, new])
    wait_for(lambda: all(provider.gone(spec, [*first, new])), what="instances terminated")


def test_provider_launch_unknown_instance_type_raises_compute_error(
    aws: MotoServer, ami: str, http: httpx.Client
) -> None:
    settings = AwsSettings(ami=ami, instance_type="m9.nonexistent")
    provider = AwsEc2Provider(direct_manager(settings), http, 5.0)
    with pytest.raises(ComputeError, match=r"m9\.nonexistent is not offered in this region"):
        provider.launch(ScaleSpec("scale-x", "ec2", 3, SECRET))


class ManagerLambda:
    """A Lambda client whose ``invoke`` runs the EC2-manager handler here, as Lambda would:
    JSON in and out, and an unhandled exception answered as ``FunctionError``."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def invoke(self, **call: Any) -> dict[str, Any]:
        self.names.append(call["FunctionName"])
        assert call["InvocationType"] == "RequestResponse"
        response: dict[str, Any] = {"StatusCode": 200}
        try:
            body: Any = ec2_manager.handler(json.loads(call["Payload"]), None)
        except Exception as exc:
            body = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            response["FunctionError"] = "Unhandled"
        data = json.dumps(body).encode()
        response["Payload"] = StreamingBody(io.BytesIO(data), len(data))
        return response


def test_provider_via_manager_lambda_launches_and_reports_errors(
    settings: AwsSettings, ec2: Any, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALRISK_FLEET", "aws")
    monkeypatch.setenv("SIGNALRISK_AWS__AMI", str(settings.ami))
    monkeypatch.setenv("SIGNALRISK_AWS__DEPLOYMENT", DEPLOYMENT)
    function = ManagerLambda()
    provider = AwsEc2Provider(lambda_manager(settings, function), http, 5.0)
    spec = ScaleSpec("scale-lam", "ec2", 2, SECRET)
    resources = provider.launch(spec)
    assert Ec2Fleet(settings).find({SCALE_TAG: spec.scale_id}) == sorted(r.id for r in resources)
    assert secret_in_user_data(ec2, resources[0].id) == SECRET
    provider.terminate(spec, resources)
    assert provider.gone(spec, resources) == [True, True]
    assert set(function.names) == {"signalrisk-ec2-manager"}
    # The handler refused the event: the error names the function and says why.
    manager = lambda_manager(settings, function)
    with pytest.raises(ComputeError, match=r"'signalrisk-ec2-manager' failed: ValueError: action"):
        manager({"action": "reboot"})
    monkeypatch.setenv("SIGNALRISK_AWS__INSTANCE_TYPE", "t2.gigantic")
    with pytest.raises(ComputeError, match=r"ComputeError: .*t2\.gigantic is not offered"):
        provider.launch(spec)


def test_registry_aws_ec2_provider_direct_or_via_lambda(
    aws: MotoServer, ami: str, http: httpx.Client
) -> None:
    direct = compute_provider(Settings(platform="aws", aws=AwsSettings(ami=ami)), "ec2", http)
    assert isinstance(direct, AwsEc2Provider)
    (resource,) = direct.launch(ScaleSpec("scale-reg", "ec2", 1, SECRET))
    assert isinstance(resource, Resource) and INSTANCE_ID.match(resource.id)
    # Through the manager Lambda: none is deployed in this (empty) account.
    settings = Settings(
        platform="aws", aws=AwsSettings(ami=ami, manager_via_lambda=True, manager_function="mgr")
    )
    via_lambda = compute_provider(settings, "ec2", http)
    with pytest.raises(ComputeError, match=r"function 'mgr': ResourceNotFoundException.*deploy"):
        via_lambda.launch(ScaleSpec("scale-reg2", "ec2", 1, SECRET))


# -- user-data ---------------------------------------------------------------------------


def test_user_data_keeps_secret_off_command_lines_and_powers_off_when_worker_stops() -> None:
    script = render_user_data(SECRET, AwsSettings())
    assert script.startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    # The secret is in one place: a here-document body (a file's content, never an argv).
    assert script.count(SECRET) == 1
    assert not [line for line in command_lines(script) if SECRET in line]
    assert f"\n{SECRET_VARIABLE}={SECRET}\n" in script
    assert "<<'SIGNALRISK_ENV'" in script  # quoted: nothing in the secret is expanded
    assert "umask 077" in script and f"EnvironmentFile={env_file()}" in script
    # The service: the worker on the public interface, named after the instance (IMDSv2) ...
    assert "X-aws-ec2-metadata-token" in script and "/latest/api/token" in script
    assert re.search(
        r"^ExecStart=/opt/signalrisk/bin/python -m signalrisk\.workers\.serve --host 0\.0\.0\.0 "
        r"--port 8080 --resource-id \$\{INSTANCE_ID\} --idle-timeout 900$",
        script,
        re.MULTILINE,
    )
    # ... which powers the instance off (so terminates it) when the worker stops, and so does
    # a failed user-data.
    assert re.search(r"^ExecStopPost=\+/sbin/shutdown -h now$", script, re.MULTILINE)
    assert "set -Eeuo pipefail" in script and "trap 'power_off" in script
    assert "systemctl enable --now signalrisk-worker.service" in script
    assert "/opt/signalrisk/bin/python -m pip install" in script


@pytest.mark.parametrize("secret", ["", "a b", "x$y", "a'b", 'a"b', "a\nb", "a\\b", "a`b"])
def test_user_data_refuses_secret_that_a_shell_could_expand(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        render_user_data(secret, AwsSettings())


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """signalrisk built from this checkout, once per session."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("signalrisk-*.whl")
    return built


def test_install_script_installs_worker_that_serves_with_secret(
    tmp_path: Path, wheel: Path
) -> None:
    """The user-data's install steps, run for real into a scratch root; then the unit's
    ExecStart (systemd cannot run here), with its EnvironmentFile, until the worker goes idle."""
    root, instance_id, port = tmp_path / "root", "i-0123456789abcdef0", free_port()
    settings = AwsSettings(install_spec=str(wheel), worker_port=port, instance_idle_timeout_s=3)
    script = tmp_path / "part-001"  # where cloud-init keeps a user-data script
    script.write_text(render_install_script(SECRET, settings, root=root, python=sys.executable))
    # Offline and without dependencies: they come from this venv (below), not from PyPI.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "INSTANCE_ID": instance_id}
    pip_env = {"PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", str(script)],
        env={**env, **pip_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    venv_python = root / "opt" / "signalrisk" / "bin" / "python"
    (site,) = (root / "opt" / "signalrisk" / "lib").glob("python3*/site-packages")
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run(
        [str(venv_python), "-c", "import signalrisk.workers.serve as m; print(m.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))  # the installed wheel, not this checkout

    # The secret: root-only, in the environment file only.
    secrets_file = env_file(root)
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_file.parent.stat().st_mode) == 0o700
    assert secrets_file.read_text() == f"{SECRET_VARIABLE}={SECRET}\n"
    unit = unit_file(root).read_text()
    assert SECRET not in unit
    fields = dict(line.split("=", 1) for line in unit.splitlines() if re.match(r"^\w+=", line))
    assert fields["EnvironmentFile"] == str(secrets_file)
    assert fields["ExecStopPost"] == "+/sbin/shutdown -h now"
    argv = shlex.split(fields["ExecStart"])
    assert argv[0] == str(venv_python)
    assert argv[argv.index("--resource-id") + 1] == instance_id

    variables = dict(line.split("=", 1) for line in secrets_file.read_text().splitlines())
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            argv, env={**env, **variables}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {SECRET}"}

        def healthy() -> bool:
            assert worker.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/health", headers=auth, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, what="the installed worker")
        assert httpx.get(f"{url}/health", headers=auth).json()["resource_id"] == instance_id
        assert httpx.get(f"{url}/health").status_code == 401
        assert SECRET not in " ".join(psutil.Process(worker.pid).cmdline())
        # Nobody calls it any more: its watchdog stops it (uvicorn exits by the SIGTERM it
        # sent itself), which is when ExecStopPost would power the instance off.
        assert worker.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
