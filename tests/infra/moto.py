"""A moto server (AWS's wire protocol for EC2, S3, IAM, STS, SSM, Lambda's control plane) on
127.0.0.1, in this process, with moto's strict instance-type and AMI checks turned on."""

from __future__ import annotations

import os

import httpx

# Read by moto when its EC2 backend is first used: refuse unknown instance types and AMIs,
# as AWS does.
os.environ.setdefault("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")

from moto.server import ThreadedMotoServer

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


class MotoServer:
    """``start``/``stop`` a threaded moto server on a free loopback port; ``reset`` wipes it."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> None:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def env(self) -> dict[str, str]:
        """Environment that points boto3 (in this process or a child) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
