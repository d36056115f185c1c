"""deploy, deploy again, destroy: against moto over AWS's wire protocol."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest

from signalrisk.core.config import AwsSettings, Settings
from signalrisk.deploy.aws import AwsDeployment
from signalrisk.deploy.package import build_lambda_zip, download_wheels
from tests.infra.moto import MotoServer


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real function package, built once: our code plus numpy for the Lambda runtime."""
    scratch = tmp_path_factory.mktemp("package")
    return build_lambda_zip(scratch / "fn.zip", download_wheels(scratch / "wheels"))


def test_build_package_runs_compute_handler_from_zip(package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path)
    assert "signalrisk/workers/compute.py" in names
    assert any(n.startswith("numpy/") for n in names)
    assert not any(n.endswith(".csv") for n in names)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import signalrisk, numpy;"
        "from signalrisk.workers.compute import handler;"
        "assert signalrisk.__file__.startswith(sys.argv[1]), signalrisk.__file__;"
        "assert numpy.__file__.startswith(sys.argv[1]), numpy.__file__;"
        "print(handler({'mean': 0.0, 'std': 1.0, 'shots': 1000, 'seed': 1})['var99'])"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert -3.0 < float(done.stdout) < -1.8


def test_build_package_is_deterministic(package: Path, tmp_path: Path) -> None:
    wheels = sorted((package.parent / "wheels").glob("*.whl"))
    again = build_lambda_zip(tmp_path / "again.zip", wheels)
    assert again.read_bytes() == package.read_bytes()


def test_deploy_twice_then_destroy_keeps_only_audit_bucket(aws: MotoServer, package: Path) -> None:
    settings = Settings(aws=AwsSettings(deployment="srtest"))
    first = AwsDeployment(settings).deploy(package)
    assert "s3://srtest-audit-123456789012" in first.created
    assert {
        "function signalrisk-compute",
        "function signalrisk-ec2-manager",
        "function signalrisk-storage",
    } <= set(first.created)
    lam = boto3.client("lambda")
    handlers = {f["FunctionName"]: f["Handler"] for f in lam.list_functions()["Functions"]}
    assert handlers == {
        "signalrisk-compute": "signalrisk.workers.compute.handler",
        "signalrisk-ec2-manager": "signalrisk.workers.ec2_manager.handler",
        "signalrisk-storage": "signalrisk.workers.storage.handler",
    }
    env = lam.get_function(FunctionName="signalrisk-storage")["Configuration"]["Environment"]
    assert env["Variables"]["SIGNALRISK_BUCKET"] == "srtest-audit-123456789012"

    second = AwsDeployment(settings).deploy(package)
    assert second.created == [] and second.updated == []

    iam = boto3.client("iam")
    assert {r["RoleName"] for r in iam.list_roles()["Roles"]} >= {
        "srtest-compute",
        "srtest-ec2-manager",
        "srtest-storage",
    }
    gone = AwsDeployment(settings).destroy()
    assert "s3://srtest-audit-123456789012" in gone.kept
    assert lam.list_functions()["Functions"] == []
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("srtest-")]
    groups = boto3.client("ec2").describe_security_groups()["SecurityGroups"]
    assert "srtest-workers" not in {g["GroupName"] for g in groups}
    buckets = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert buckets == ["srtest-audit-123456789012"]

    AwsDeployment(settings).destroy(delete_audit=True)
    assert boto3.client("s3").list_buckets()["Buckets"] == []


def test_deploy_with_provisioned_concurrency_publishes_alias(
    aws: MotoServer, package: Path
) -> None:
    settings = Settings(aws=AwsSettings(deployment="srpc", provisioned_concurrency=True))
    first = AwsDeployment(settings).deploy(package)
    assert "alias signalrisk-compute:live" in first.created
    lam = boto3.client("lambda")
    alias = lam.get_alias(FunctionName="signalrisk-compute", Name="live")
    assert alias["FunctionVersion"] != "$LATEST"
    second = AwsDeployment(settings).deploy(package)
    assert "alias signalrisk-compute:live" in second.unchanged
    AwsDeployment(settings).destroy(delete_audit=True)
