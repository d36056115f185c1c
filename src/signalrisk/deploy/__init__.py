"""Deployment of the aws platform: IAM policies, the Lambda package, deploy and destroy."""
