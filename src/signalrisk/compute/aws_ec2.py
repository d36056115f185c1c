"""``s = ec2`` on AWS: EC2 instances serving the worker app at their public DNS names.

The provider is the local one (:class:`LocalEc2Provider`: launch, probe, endpoints, batches over
HTTP, terminate, gone, all through the EC2-manager handler's four actions); only the manager
differs. It is either the handler called in this process over :class:`Ec2Fleet` (direct), or the
deployed manager Lambda (``aws.manager_via_lambda``), invoked with boto3.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from signalrisk.compute.ec2fleet import Ec2Fleet
from signalrisk.compute.local_ec2 import LocalEc2Provider, Manager
from signalrisk.core.config import AwsSettings, Settings
from signalrisk.core.errors import ComputeError
from signalrisk.workers.ec2_manager import handle

# The manager answers in about a second; a generous read timeout keeps botocore from retrying
# (and so repeating) a slow create.
_LAMBDA_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=120
)


def direct_manager(settings: AwsSettings, resolve: Callable[[str], str] | None = None) -> Manager:
    """The manager handler, called in this process, over EC2 (``resolve``: tests only)."""
    fleet = Ec2Fleet(settings, resolve=resolve)
    return lambda event: handle(event, fleet)


def lambda_manager(settings: AwsSettings, client: Any | None = None) -> Manager:
    """The deployed manager function (``aws.manager_function``), invoked synchronously."""
    name = settings.manager_function
    lam = client
    if lam is None:
        try:
            session = boto3.session.Session(region_name=settings.region)
            lam = session.client("lambda", config=_LAMBDA_CONFIG)
        except BotoCoreError as exc:
            raise ComputeError(f"cannot reach AWS Lambda for {name!r}: {exc}") from exc

    def call(event: dict[str, Any]) -> dict[str, Any]:
        try:
            response = lam.invoke(
                FunctionName=name,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
            body = response["Payload"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            hint = (
                "; is it deployed? (signalrisk deploy aws)"
                if error.get("Code") == "ResourceNotFoundException"
                else ""
            )
            raise ComputeError(
                f"EC2 manager function {name!r}: {error.get('Code')}: {error.get('Message')}{hint}"
            ) from exc
        except BotoCoreError as exc:
            raise ComputeError(f"EC2 manager function {name!r} did not answer: {exc}") from exc
        try:
            answer = json.loads(body or b"null")
        except ValueError as exc:
            raise ComputeError(f"EC2 manager function {name!r} answered non-JSON") from exc
        if response.get("FunctionError"):
            failure = answer if isinstance(answer, dict) else {}
            raise ComputeError(
                f"EC2 manager function {name!r} failed: "
                f"{failure.get('errorType', 'error')}: {failure.get('errorMessage', answer)}"
            )
        if not isinstance(answer, dict):
            raise ComputeError(f"EC2 manager function {name!r} answered {answer!r}")
        return answer

    return call


class AwsEc2Provider(LocalEc2Provider):
    """EC2 instances launched and terminated through the EC2 manager (direct or its Lambda)."""

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.Client) -> AwsEc2Provider:
        aws = settings.aws
        manager = lambda_manager(aws) if aws.manager_via_lambda else direct_manager(aws)
        return cls(manager, client, settings.worker_call_timeout_s)
