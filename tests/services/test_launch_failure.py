"""A launch that AWS refuses fails the scale at once and leaves nothing running."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from signalrisk.core.config import AwsSettings, Settings
from signalrisk.core.errors import ComputeError
from signalrisk.services.facade import Facade
from tests.infra.moto import MotoServer


def test_warmup_refused_by_ec2_fails_scale_with_reason(aws: MotoServer, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2")
    al2023 = [{"Name": "name", "Values": ["al2023-ami-2023*-x86_64"]}]
    ami = ec2.describe_images(Owners=["amazon"], Filters=al2023)["Images"][0]["ImageId"]
    # moto validates instance types as EC2 does: this one does not exist.
    settings = Settings(
        platform="aws",
        home=tmp_path,
        background_driver=False,
        aws=AwsSettings(bucket="unused-bucket", ami=ami, instance_type="t2.gigantic"),
    )
    facade = Facade(settings)
    facade.ctx.db.migrate()
    try:
        with pytest.raises(ComputeError, match=r"t2\.gigantic"):
            facade.scales.warmup("ec2", 2)
        view = facade.scales.current()
        assert view.state == "failed"
        assert view.error is not None and "t2.gigantic" in view.error
        assert facade.scales.scaled_ready() is False
        running = [
            i
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ]
        assert running == []
    finally:
        facade.close()
