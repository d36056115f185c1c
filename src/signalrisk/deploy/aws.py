"""``signalrisk deploy aws`` / ``signalrisk destroy aws``: idempotent set-up and tear-down.

deploy creates or updates the audit bucket (kept on destroy unless asked), the three IAM roles
with their least-privilege inline policies (``policies.py``), the three functions from one
package (``package.py``) and the workers' security group. Running it twice changes nothing the
second time; destroy removes functions, roles and the security group.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from signalrisk.compute.aws_lambda import PROVISIONED_ALIAS
from signalrisk.core.config import Settings
from signalrisk.core.errors import InternalError
from signalrisk.deploy import policies

RUNTIME = "python3.11"


@dataclass
class Report:
    """What a deploy or destroy did, resource by resource."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    role: str
    handler: str
    timeout_s: int
    environment: dict[str, str]
    policy: policies.Policy


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class AwsDeployment:
    """The aws platform's resources for one deployment name."""

    def __init__(self, settings: Settings, session: Any | None = None) -> None:
        self.settings = settings
        self.aws = settings.aws
        self.session = session or boto3.session.Session(region_name=settings.aws.region)
        self.region = self.session.region_name or "us-east-1"
        self.iam = self.session.client("iam")
        self.s3 = self.session.client("s3")
        self.lam = self.session.client("lambda")
        self.ec2 = self.session.client("ec2")
        self.account = self.session.client("sts").get_caller_identity()["Account"]

    @property
    def bucket(self) -> str:
        return self.aws.bucket or f"{self.aws.deployment}-audit-{self.account}"

    @property
    def tags(self) -> dict[str, str]:
        return {"project": "signalrisk", policies.DEPLOYMENT_TAG: self.aws.deployment}

    def functions(self) -> list[FunctionSpec]:
        aws, region, account = self.aws, self.region, self.account
        manager_env = {
            "SIGNALRISK_FLEET": "aws",
            "SIGNALRISK_AWS__DEPLOYMENT": aws.deployment,
            "SIGNALRISK_AWS__INSTANCE_TYPE": aws.instance_type,
            "SIGNALRISK_AWS__WORKER_PORT": str(aws.worker_port),
            "SIGNALRISK_AWS__INSTALL_SPEC": aws.install_spec,
            "SIGNALRISK_AWS__INSTANCE_IDLE_TIMEOUT_S": str(aws.instance_idle_timeout_s),
            "SIGNALRISK_AWS__INGRESS_CIDR": aws.ingress_cidr,
        }
        optional = {
            "SIGNALRISK_AWS__AMI": aws.ami,
            "SIGNALRISK_AWS__SUBNET_ID": aws.subnet_id,
            "SIGNALRISK_AWS__SECURITY_GROUP_ID": aws.security_group_id or self._group_id(),
            "SIGNALRISK_AWS__KEY_NAME": aws.key_name,
            "SIGNALRISK_AWS__INSTANCE_PROFILE": aws.instance_profile,
        }
        manager_env.update({k: v for k, v in optional.items() if v})
        d = aws.deployment
        return [
            FunctionSpec(
                aws.compute_function,
                f"{d}-compute",
                "signalrisk.workers.compute.handler",
                900,
                {},
                policies.compute_policy(region, account, aws.compute_function),
            ),
            FunctionSpec(
                aws.manager_function,
                f"{d}-ec2-manager",
                "signalrisk.workers.ec2_manager.handler",
                60,
                manager_env,
                policies.manager_policy(region, account, aws.manager_function, d, None),
            ),
            FunctionSpec(
                aws.storage_function,
                f"{d}-storage",
                "signalrisk.workers.storage.handler",
                60,
                {"SIGNALRISK_BUCKET": self.bucket},
                policies.storage_policy(region, account, aws.storage_function, self.bucket),
            ),
        ]

    # -- deploy ---------------------------------------------------------------------------

    def deploy(self, package: Path) -> Report:
        """Create or update everything; ``package`` is the function zip."""
        report = Report()
        self._ensure_bucket(report)
        self._ensure_security_group(report)
        code = package.read_bytes()
        for spec in self.functions():
            arn = self._ensure_role(spec, report)
            self._ensure_function(spec, arn, code, report)
        if self.aws.provisioned_concurrency:
            self._ensure_alias(report)
        return report

    def _ensure_alias(self, report: Report) -> None:
        """Provisioned concurrency needs a published version behind an alias ($LATEST can't)."""
        name, _, alias = self.aws.compute_function.partition(":")
        alias = alias or PROVISIONED_ALIAS
        self._wait_updatable(name)
        version = self.lam.publish_version(FunctionName=name)["Version"]
        try:
            current = self.lam.get_alias(FunctionName=name, Name=alias)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            self.lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
            report.created.append(f"alias {name}:{alias}")
            return
        if current["FunctionVersion"] == version:
            report.unchanged.append(f"alias {name}:{alias}")
        else:
            self.lam.update_alias(FunctionName=name, Name=alias, FunctionVersion=version)
            report.updated.append(f"alias {name}:{alias}")

    def _ensure_bucket(self, report: Report) -> None:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
            report.unchanged.append(f"s3://{self.bucket}")
            return
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise InternalError(f"cannot reach bucket {self.bucket}: {exc}") from exc
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.s3.create_bucket(**kwargs)
        self.s3.put_public_access_block(
            Bucket=self.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        self.s3.put_bucket_versioning(
            Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        report.created.append(f"s3://{self.bucket}")

    def _group_name(self) -> str:
        return f"{self.aws.deployment}-workers"

    def _group_id(self) -> str | None:
        found = self.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [self._group_name()]}]
        )["SecurityGroups"]
        return str(found[0]["GroupId"]) if found else None

    def _ensure_security_group(self, report: Report) -> None:
        if self.aws.security_group_id:
            return
        if self._group_id():
            report.unchanged.append(f"security group {self._group_name()}")
            return
        group = self.ec2.create_security_group(
            GroupName=self._group_name(),
            Description="signalrisk workers: the worker port from the configured range",
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()],
                }
            ],
        )
        self.ec2.authorize_security_group_ingress(
            GroupId=group["GroupId"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": self.aws.worker_port,
                    "ToPort": self.aws.worker_port,
                    "IpRanges": [{"CidrIp": self.aws.ingress_cidr}],
                }
            ],
        )
        report.created.append(f"security group {self._group_name()}")

    def _ensure_role(self, spec: FunctionSpec, report: Report) -> str:
        trust = json.dumps(policies.lambda_trust_policy())
        try:
            arn = str(self.iam.get_role(RoleName=spec.role)["Role"]["Arn"])
            self.iam.update_assume_role_policy(RoleName=spec.role, PolicyDocument=trust)
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            arn = str(
                self.iam.create_role(
                    RoleName=spec.role,
                    AssumeRolePolicyDocument=trust,
                    Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()],
                )["Role"]["Arn"]
            )
            report.created.append(f"role {spec.role}")
        self.iam.put_role_policy(
            RoleName=spec.role, PolicyName="signalrisk", PolicyDocument=json.dumps(spec.policy)
        )
        return arn

    def _ensure_function(
        self, spec: FunctionSpec, role_arn: str, code: bytes, report: Report
    ) -> None:
        config: dict[str, Any] = {
            "Role": role_arn,
            "Handler": spec.handler,
            "Runtime": RUNTIME,
            "Timeout": spec.timeout_s,
            "MemorySize": self.settings.prices.lambda_memory_mb,
            "Environment": {"Variables": spec.environment},
        }
        try:
            current = self.lam.get_function(FunctionName=spec.name)["Configuration"]
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            self.lam.create_function(
                FunctionName=spec.name, Code={"ZipFile": code}, Tags=self.tags, **config
            )
            report.created.append(f"function {spec.name}")
            return
        changed = False
        if current.get("CodeSha256") != _sha256_b64(code):
            self.lam.update_function_code(FunctionName=spec.name, ZipFile=code)
            changed = True
        wanted = {k: config[k] for k in ("Role", "Handler", "Runtime", "Timeout", "MemorySize")}
        have_env = current.get("Environment", {}).get("Variables", {})
        if any(current.get(k) != v for k, v in wanted.items()) or have_env != spec.environment:
            self._wait_updatable(spec.name)
            self.lam.update_function_configuration(FunctionName=spec.name, **config)
            changed = True
        (report.updated if changed else report.unchanged).append(f"function {spec.name}")

    def _wait_updatable(self, name: str, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.lam.get_function(FunctionName=name)["Configuration"]
            if status.get("LastUpdateStatus", "Successful") != "InProgress":
                return
            time.sleep(1.0)

    # -- destroy --------------------------------------------------------------------------

    def destroy(self, delete_audit: bool = False) -> Report:
        """Remove functions, roles and the security group; the audit bucket only if asked."""
        report = Report()
        for spec in self.functions():
            try:
                self.lam.delete_function(FunctionName=spec.name)
                report.deleted.append(f"function {spec.name}")
            except ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
            try:
                for name in self.iam.list_role_policies(RoleName=spec.role)["PolicyNames"]:
                    self.iam.delete_role_policy(RoleName=spec.role, PolicyName=name)
                self.iam.delete_role(RoleName=spec.role)
                report.deleted.append(f"role {spec.role}")
            except ClientError as exc:
                if _code(exc) != "NoSuchEntity":
                    raise
        group = None if self.aws.security_group_id else self._group_id()
        if group:
            self.ec2.delete_security_group(GroupId=group)
            report.deleted.append(f"security group {self._group_name()}")
        if delete_audit:
            self._delete_bucket(report)
        else:
            report.kept.append(f"s3://{self.bucket}")
        return report

    def _delete_bucket(self, report: Report) -> None:
        try:
            paginator = self.s3.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket):
                doomed = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                if doomed:
                    self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": doomed})
            self.s3.delete_bucket(Bucket=self.bucket)
            report.deleted.append(f"s3://{self.bucket}")
        except ClientError as exc:
            if _code(exc) not in ("NoSuchBucket", "404"):
                raise


def _sha256_b64(data: bytes) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha256(data).digest()).decode()
