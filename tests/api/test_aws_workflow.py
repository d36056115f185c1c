"""The seed workflow on platform aws, offline, over AWS's wire protocol (SPEC §1, §2).

The API runs as configured for AWS: boto3 talks to moto (EC2, S3, STS) and to a local Lambda
service where awslambdaric runs our real compute handler; EC2 instances "boot" into real worker
processes (tests/infra/ec2boot.py). The numbers must equal the local platform's for the seed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import uvicorn

from signalrisk.api.app import create_app
from signalrisk.compute.aws_ec2 import AwsEc2Provider, direct_manager
from signalrisk.core.config import AwsSettings, Settings
from signalrisk.seedclient import SeedClient
from tests.infra.ec2boot import InstanceBooter
from tests.infra.lambda_shim import LambdaShim
from tests.infra.moto import MotoServer
from tests.infra.seaweed import SeaweedServer
from tests.server import ApiServer, free_port

BUCKET = f"signalrisk-audit-wire-{time.time_ns()}"
SEEDED = {"h": "101", "d": "10000", "t": "sell", "p": "7", "seed": "4242"}


class InProcessApi:
    """The API under uvicorn in a thread of the test process (so the EC2 seam can be set)."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(params=["moto", "seaweedfs"])
def aws_api(
    request: pytest.FixtureRequest,
    aws: MotoServer,
    lambda_shim: LambdaShim,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[InProcessApi, InstanceBooter]]:
    """The API on platform aws; S3 is moto's or a real S3 server (SeaweedFS)."""
    if request.param == "seaweedfs":
        seaweed: SeaweedServer = request.getfixturevalue("seaweed_server")
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", seaweed.url)
        monkeypatch.delenv("AWS_SESSION_TOKEN")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(name, seaweed.env()[name])  # moto accepts any credentials
    ec2 = boto3.client("ec2")
    al2023 = [{"Name": "name", "Values": ["al2023-ami-2023*-x86_64"]}]
    ami = ec2.describe_images(Owners=["amazon"], Filters=al2023)["Images"][0]["ImageId"]
    boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)  # current credentials
    settings = Settings(
        platform="aws",
        home=tmp_path / "home",
        heartbeat_interval_s=1.0,
        aws=AwsSettings(bucket=BUCKET, ami=ami, deployment="wiretest"),
    )
    api = InProcessApi(settings)
    booter = InstanceBooter(tmp_path / "logs")
    api.start()
    ctx = api.app.state.facade.ctx
    # The one seam: instances' DNS names resolve to local worker processes (see ec2boot.py).
    ctx._providers["ec2"] = AwsEc2Provider(
        direct_manager(settings.aws, resolve=booter.resolve), ctx.http, 60.0
    )
    try:
        yield api, booter
    finally:
        api.stop()
        booter.stop()


def seed_pass(url: str, service: str) -> dict[str, Any]:
    client = SeedClient(url, poll_s=0.1, timeout_s=60, log=lambda _: None)
    try:
        return client.run(service, r=3, analysis=SEEDED).answers
    finally:
        client.close()


def test_run_seed_workflow_on_aws_matches_local_platform(
    aws_api: tuple[InProcessApi, InstanceBooter], api: ApiServer
) -> None:
    server, booter = aws_api
    local = seed_pass(api.url, "lambda")
    for service in ("lambda", "ec2"):
        answers = seed_pass(server.url, service)
        assert answers["/get_sig_vars9599"] == local["/get_sig_vars9599"], service
        assert answers["/get_avg_vars9599"] == local["/get_avg_vars9599"], service
        assert answers["/get_tot_profit_loss"] == local["/get_tot_profit_loss"], service
        cost = answers["/get_time_cost"]
        assert cost["time"] > 0 and cost["cost"] > 0
        expected_basis = "lambda-report" if service == "lambda" else "list-price"
        assert cost["basis"] == expected_basis
        chart = httpx.get(answers["/get_chart_url"]["url"], timeout=30)
        assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
        endpoints = answers["/get_endpoints"]
        if service == "lambda":
            assert all("--aws-sigv4" in c for c in endpoints.values())
        else:  # the instances' URLs (resolved by the seam) with the scale's secret
            assert len(endpoints) == 3
            assert all("Authorization: Bearer" in c for c in endpoints.values())
    assert len(booter.workers) == 3  # three instances booted, one worker each
    audit = server.app.state.facade.runs.audit.records()
    assert [(a["s"], a["platform"], a["status"]) for a in audit] == [
        ("lambda", "aws", "ok"),
        ("ec2", "aws", "ok"),
    ]
    s3 = boto3.session.Session().client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sum(k.startswith("audit/") for k in keys) == 2
    states = {
        i["State"]["Name"]
        for r in boto3.client("ec2").describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    assert states == {"terminated"}
