"""Least-privilege IAM policy documents for the three functions.

- compute: nothing but writing its own logs (it reads its payload and returns numbers);
- EC2 manager: launch instances only with this deployment's tag, and terminate only instances
  carrying it; describe (which IAM cannot scope), the AMI's public SSM parameter, and passing
  the workers' instance profile if one is configured;
- storage: objects of its one bucket.
"""

from __future__ import annotations

from typing import Any

DEPLOYMENT_TAG = "signalrisk:deployment"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

Policy = dict[str, Any]


def lambda_trust_policy() -> Policy:
    """Who may assume the functions' roles: the Lambda service only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def logs_statement(region: str, account: str, function: str) -> dict[str, Any]:
    group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}"
    return {
        "Sid": "OwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [group, f"{group}:*"],
    }


def compute_policy(region: str, account: str, function: str) -> Policy:
    return {"Version": "2012-10-17", "Statement": [logs_statement(region, account, function)]}


def manager_policy(
    region: str, account: str, function: str, deployment: str, instance_role_arn: str | None
) -> Policy:
    tagged = {"StringEquals": {f"aws:RequestTag/{DEPLOYMENT_TAG}": deployment}}
    statements: list[dict[str, Any]] = [
        logs_statement(region, account, function),
        {
            "Sid": "LaunchOnlyTagged",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": f"arn:aws:ec2:{region}:{account}:instance/*",
            "Condition": tagged,
        },
        {
            "Sid": "LaunchFromAnyImageNetworkAndVolume",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": [
                f"arn:aws:ec2:{region}::image/*",
                f"arn:aws:ec2:{region}:{account}:subnet/*",
                f"arn:aws:ec2:{region}:{account}:network-interface/*",
                f"arn:aws:ec2:{region}:{account}:security-group/*",
                f"arn:aws:ec2:{region}:{account}:volume/*",
                f"arn:aws:ec2:{region}:{account}:key-pair/*",
            ],
        },
        {
            "Sid": "TagOnLaunchOnly",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"arn:aws:ec2:{region}:{account}:*/*",
            "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances"}},
        },
        {
            "Sid": "TerminateOnlyOwn",
            "Effect": "Allow",
            "Action": "ec2:TerminateInstances",
            "Resource": f"arn:aws:ec2:{region}:{account}:instance/*",
            "Condition": {"StringEquals": {f"ec2:ResourceTag/{DEPLOYMENT_TAG}": deployment}},
        },
        {
            "Sid": "Describe",
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"],
            "Resource": "*",
        },
        {
            "Sid": "AmiParameter",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:aws:ssm:{region}::parameter{AMI_PARAMETER}",
        },
    ]
    if instance_role_arn:
        statements.append(
            {
                "Sid": "PassWorkerRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": instance_role_arn,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def storage_policy(region: str, account: str, function: str, bucket: str) -> Policy:
    return {
        "Version": "2012-10-17",
        "Statement": [
            logs_statement(region, account, function),
            {
                "Sid": "ListOwnBucket",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
            {
                "Sid": "ReadWriteOwnObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        ],
    }
