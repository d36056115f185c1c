"""The IAM policy documents grant no more than each function needs."""

from __future__ import annotations

import json
from typing import Any

from signalrisk.deploy import policies

REGION, ACCOUNT = "us-east-1", "123456789012"


def actions(policy: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        found |= {value} if isinstance(value, str) else set(value)
    return found


def test_grant_compute_function_only_its_logs() -> None:
    policy = policies.compute_policy(REGION, ACCOUNT, "signalrisk-compute")
    assert actions(policy) == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    (statement,) = policy["Statement"]
    assert all("/aws/lambda/signalrisk-compute" in r for r in statement["Resource"])


def test_grant_manager_ec2_only_in_its_tag_scope() -> None:
    policy = policies.manager_policy(REGION, ACCOUNT, "mgr", "prod", None)
    assert not any(a.startswith(("s3:", "iam:")) for a in actions(policy))
    assert "*" not in actions(policy) and "ec2:*" not in actions(policy)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    launch = by_sid["LaunchOnlyTagged"]
    assert launch["Condition"] == {"StringEquals": {"aws:RequestTag/signalrisk:deployment": "prod"}}
    terminate = by_sid["TerminateOnlyOwn"]
    assert terminate["Action"] == "ec2:TerminateInstances"
    assert terminate["Condition"] == {
        "StringEquals": {"ec2:ResourceTag/signalrisk:deployment": "prod"}
    }
    assert by_sid["TagOnLaunchOnly"]["Condition"] == {
        "StringEquals": {"ec2:CreateAction": "RunInstances"}
    }
    # Only describing is unscoped, because IAM cannot scope it.
    unscoped = [s for s in policy["Statement"] if s["Resource"] == "*"]
    assert [s["Sid"] for s in unscoped] == ["Describe"]


def test_grant_manager_pass_role_only_for_worker_role() -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/signalrisk-worker"
    policy = policies.manager_policy(REGION, ACCOUNT, "mgr", "prod", arn)
    passing = [s for s in policy["Statement"] if s["Action"] == "iam:PassRole"]
    assert [s["Resource"] for s in passing] == [arn]


def test_grant_storage_only_its_bucket_and_never_delete() -> None:
    policy = policies.storage_policy(REGION, ACCOUNT, "st", "audit-bucket")
    assert actions(policy) - {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    } == {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}
    text = json.dumps([s for s in policy["Statement"] if s["Sid"] != "OwnLogs"])
    assert "arn:aws:s3:::audit-bucket" in text
    assert "Delete" not in text and '"*"' not in text


def test_trust_only_lambda_service() -> None:
    (statement,) = policies.lambda_trust_policy()["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
