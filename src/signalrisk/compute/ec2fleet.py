"""The instance fleet on AWS: EC2 instances that serve the worker app (boto3).

Every instance is tagged ``project=signalrisk``, ``signalrisk:deployment=<deployment>`` and
``signalrisk:scale=<scale id>``, so that /terminate and ``signalrisk cleanup`` find all of them
by tag even when a crash lost their ids; ``find`` is always scoped to this deployment. Instances
launch with ``InstanceInitiatedShutdownBehavior=terminate`` and the user-data of
:mod:`signalrisk.compute.userdata`, so they power themselves off (and so terminate) when their
worker goes idle. botocore errors are translated here, once, into :class:`ComputeError`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from signalrisk.compute.fleet import Instance, InstanceState
from signalrisk.compute.userdata import render_user_data
from signalrisk.core.config import AwsSettings
from signalrisk.core.errors import ComputeError

PROJECT_TAG, PROJECT = "project", "signalrisk"
DEPLOYMENT_TAG = "signalrisk:deployment"
DEFAULT_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
LIVE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
_STATES: dict[str, InstanceState] = {
    "pending": "pending",
    "running": "running",
    "shutting-down": "shutting-down",
    "terminated": "terminated",
    # Stopped by hand: not serving, not gone either (TerminateInstances still ends it).
    "stopping": "shutting-down",
    "stopped": "shutting-down",
}
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30
)
# Why a launch failed, in words an operator can act on; the warm-up deadline handles the rest.
_HINTS = {
    "InsufficientInstanceCapacity": "AWS has no spare {type} capacity in this zone right now; "
    "retry later or choose another instance type or subnet",
    "InstanceLimitExceeded": "the account's EC2 instance quota is reached; "
    "lower r or request a quota increase",
    "VcpuLimitExceeded": "the account's vCPU quota for on-demand {type} instances is reached; "
    "lower r or request a quota increase",
    "InsufficientFreeAddressesInSubnet": "the subnet has no free addresses for more instances",
    "InvalidInstanceType": "instance type {type} is not offered in this region",
    "InvalidInstanceType.NotFound": "instance type {type} is not offered in this region",
    "Unsupported": "{type} is not supported in this availability zone; choose another subnet",
    "InvalidAMIID.NotFound": "AMI {ami} does not exist in this region",
    "InvalidAMIID.Malformed": "AMI {ami} is not an AMI id",
    "UnauthorizedOperation": "these credentials may not do this; check the role's policy",
    "RequestLimitExceeded": "the EC2 API is throttling this account; try again shortly",
}


def _chunks(items: list[str], size: int = 200) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_ids(ids: list[str]) -> list[str]:
    for instance_id in ids:
        if not _INSTANCE_ID.match(instance_id):
            raise ValueError(f"not an instance id: {instance_id!r}")
    return ids


class Ec2Fleet:
    """Instances on EC2, configured by ``settings`` (boto3 client: ``client`` or the AWS chain).

    ``resolve`` maps an instance's address (``http://<PublicDnsName>:<worker_port>``) to the URL
    actually used to reach it. It exists ONLY for tests, which map each instance's DNS name to a
    real worker process on 127.0.0.1 (an emulated instance runs nothing); leave it None.
    """

    def __init__(
        self,
        settings: AwsSettings,
        client: Any | None = None,
        *,
        ssm: Any | None = None,
        resolve: Callable[[str], str] | None = None,
        visible_timeout_s: float = 15.0,
    ) -> None:
        self.settings = settings
        self._client = client
        self._ssm = ssm
        self.resolve = resolve
        self.visible_timeout_s = visible_timeout_s
        self._group_id = settings.security_group_id

    # -- AWS plumbing ----------------------------------------------------------------------

    def _boto_client(self, service: str) -> Any:
        try:
            session = boto3.session.Session(region_name=self.settings.region)
            return session.client(service, config=_CLIENT_CONFIG)
        except BotoCoreError as exc:
            raise ComputeError(f"cannot reach AWS {service}: {exc}") from exc

    @cached_property
    def ec2(self) -> Any:
        return self._client if self._client is not None else self._boto_client("ec2")

    def _call(self, operation: str, **params: Any) -> Any:
        """One EC2 call; its botocore errors become ComputeError with an actionable message."""
        try:
            return getattr(self.ec2, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(operation, exc, params) from exc

    def _error(
        self, operation: str, exc: ClientError | BotoCoreError, params: dict[str, Any]
    ) -> ComputeError:
        if not isinstance(exc, ClientError):
            return ComputeError(f"EC2 {operation} failed: {exc}")
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        hint = _HINTS.get(code, "see the AWS message").format(
            type=self.settings.instance_type, ami=params.get("ImageId", "?")
        )
        return ComputeError(
            f"EC2 {operation} failed ({code}): {hint}. AWS said: {error.get('Message', '')}"
        )

    def _base_tags(self) -> dict[str, str]:
        return {PROJECT_TAG: PROJECT, DEPLOYMENT_TAG: self.settings.deployment}

    def image_id(self) -> str:
        """The configured AMI, or the latest Amazon Linux 2023 from AWS's public SSM parameter."""
        if self.settings.ami:
            return self.settings.ami
        ssm = self._ssm if self._ssm is not None else self._boto_client("ssm")
        try:
            value = ssm.get_parameter(Name=DEFAULT_AMI_PARAMETER)["Parameter"]["Value"]
        except (ClientError, BotoCoreError) as exc:
            raise ComputeError(
                f"cannot look up the default AMI ({DEFAULT_AMI_PARAMETER}): {exc}; set aws.ami"
            ) from exc
        return str(value)

    def ensure_security_group(self) -> str:
        """The configured group, else ``<deployment>-workers`` (what ``signalrisk deploy aws``
        creates), created here if missing with ``ingress_cidr`` admitted on the worker port."""
        if self._group_id:
            return self._group_id
        name = f"{self.settings.deployment}-workers"
        vpc = self._vpc_id()
        filters = [{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc]}]
        groups = self._call("describe_security_groups", Filters=filters)["SecurityGroups"]
        if groups:
            self._group_id = str(groups[0]["GroupId"])
            return self._group_id
        tags = [{"Key": k, "Value": v} for k, v in self._base_tags().items()]
        group_id = str(
            self._call(
                "create_security_group",
                GroupName=name,
                Description="signalrisk workers: the worker port from the configured range",
                VpcId=vpc,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
            )["GroupId"]
        )
        port = self.settings.worker_port
        self._call(
            "authorize_security_group_ingress",
            GroupId=group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": self.settings.ingress_cidr}],
                }
            ],
        )
        self._group_id = group_id
        return group_id

    def _vpc_id(self) -> str:
        if self.settings.subnet_id:
            subnets = self._call("describe_subnets", SubnetIds=[self.settings.subnet_id])
            return str(subnets["Subnets"][0]["VpcId"])
        default = [{"Name": "isDefault", "Values": ["true"]}]
        vpcs = self._call("describe_vpcs", Filters=default)["Vpcs"]
        if not vpcs:
            raise ComputeError("no default VPC: set aws.subnet_id and aws.security_group_id")
        return str(vpcs[0]["VpcId"])

    # -- Fleet -----------------------------------------------------------------------------

    def run(self, count: int, tags: dict[str, str], secret: str) -> list[str]:
        """Launch ``count`` instances, all or none (MinCount = MaxCount), without waiting for
        them to boot; returns once DescribeInstances sees them (it is eventually consistent)."""
        all_tags = {**self._base_tags(), "Name": f"{self.settings.deployment}-worker", **tags}
        tag_list = [{"Key": k, "Value": v} for k, v in all_tags.items()]
        group = self.ensure_security_group()
        params: dict[str, Any] = {
            "ImageId": self.image_id(),
            "InstanceType": self.settings.instance_type,
            "MinCount": count,
            "MaxCount": count,
            "UserData": render_user_data(secret, self.settings),
            "InstanceInitiatedShutdownBehavior": "terminate",
            "MetadataOptions": {
                "HttpTokens": "required",
                "HttpEndpoint": "enabled",
                "HttpPutResponseHopLimit": 1,
            },
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tag_list},
                {"ResourceType": "volume", "Tags": tag_list},
            ],
            # Makes botocore's own retries of this call idempotent (no double launch).
            "ClientToken": uuid.uuid4().hex,
        }
        if self.settings.subnet_id:
            params["NetworkInterfaces"] = [
                {
                    "DeviceIndex": 0,
                    "SubnetId": self.settings.subnet_id,
                    "Groups": [group],
                    "AssociatePublicIpAddress": True,  # the API reaches workers by public DNS
                }
            ]
        else:
            params["SecurityGroupIds"] = [group]
        if self.settings.key_name:
            params["KeyName"] = self.settings.key_name
        if profile := self.settings.instance_profile:
            params["IamInstanceProfile"] = (
                {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
            )
        reservation = self._call("run_instances", **params)
        ids = [str(i["InstanceId"]) for i in reservation["Instances"]]
        self._await_visible(ids)
        return ids

    def _await_visible(self, ids: list[str]) -> None:
        deadline = time.monotonic() + self.visible_timeout_s
        pause = 0.2
        while len(self._describe_raw(ids)) < len(ids) and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _describe_raw(self, ids: list[str], filters: list[Any] | None = None) -> dict[str, Any]:
        """Instances by id (unknown ids are simply absent) or by filters."""
        found: dict[str, Any] = {}
        batches = (
            [filters]
            if filters is not None
            else [[{"Name": "instance-id", "Values": chunk}] for chunk in _chunks(ids)]
        )
        paginator = self.ec2.get_paginator("describe_instances")
        for batch in batches:
            try:
                for page in paginator.paginate(Filters=batch):
                    for reservation in page["Reservations"]:
                        found.update((i["InstanceId"], i) for i in reservation["Instances"])
            except (ClientError, BotoCoreError) as exc:
                raise self._error("describe_instances", exc, {}) from exc
        return found

    def _address(self, raw: dict[str, Any]) -> str | None:
        host = raw.get("PublicDnsName") or raw.get("PublicIpAddress")
        if raw["State"]["Name"] != "running" or not host:
            return None
        address = f"http://{host}:{self.settings.worker_port}"
        return self.resolve(address) if self.resolve else address

    def describe(self, ids: list[str]) -> list[Instance]:
        found = self._describe_raw(_check_ids(ids))
        out = []
        for instance_id in ids:
            raw = found.get(instance_id)
            if raw is None:  # never existed, or terminated long ago
                out.append(Instance(instance_id, "terminated", None))
                continue
            launched = raw.get("LaunchTime")
            out.append(
                Instance(
                    instance_id,
                    _STATES.get(raw["State"]["Name"], "pending"),
                    self._address(raw),
                    None,
                    launched.timestamp() if launched else None,
                )
            )
        return out

    def terminate(self, ids: list[str]) -> None:
        """Terminate ``ids``; unknown or already terminated ones are skipped, so it repeats."""
        found = self._describe_raw(_check_ids(ids))
        live = [i for i, raw in found.items() if raw["State"]["Name"] != "terminated"]
        for chunk in _chunks(sorted(live)):
            self._call("terminate_instances", InstanceIds=chunk)

    def find(self, tags: dict[str, str]) -> list[str]:
        filters = [
            {"Name": f"tag:{key}", "Values": [value]}
            for key, value in {**self._base_tags(), **tags}.items()
        ]
        filters.append({"Name": "instance-state-name", "Values": LIVE_STATES})
        return sorted(self._describe_raw([], filters))
