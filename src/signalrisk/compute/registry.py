"""Compute providers by name (``<platform>:<service>``), imported lazily."""

from __future__ import annotations

from importlib import import_module

import httpx

from signalrisk.compute.base import ComputeProvider
from signalrisk.core.config import Settings
from signalrisk.core.errors import InternalError

PROVIDERS = {
    "local:lambda": "signalrisk.compute.local_lambda:LocalLambdaProvider",
    "local:ec2": "signalrisk.compute.local_ec2:LocalEc2Provider",
    "aws:ec2": "signalrisk.compute.aws_ec2:AwsEc2Provider",
    "aws:lambda": "signalrisk.compute.aws_lambda:AwsLambdaProvider",
}


def compute_provider(settings: Settings, service: str, client: httpx.Client) -> ComputeProvider:
    """The provider of ``service`` on the configured platform."""
    name = f"{settings.platform}:{service}"
    if name not in PROVIDERS:
        raise InternalError(f"no compute provider {name!r}; available: {sorted(PROVIDERS)}")
    module_name, _, attr = PROVIDERS[name].partition(":")
    try:
        module = import_module(module_name)
    except ImportError as exc:
        raise InternalError(
            f"compute provider {name!r} needs an extra: pip install 'signalrisk[aws]'"
        ) from exc
    cls = getattr(module, attr)
    provider: ComputeProvider
    if name == "aws:ec2":
        provider = cls.from_settings(settings, client)
    elif name == "aws:lambda":
        provider = cls(settings)
    elif name == "local:lambda":
        provider = cls(
            settings.home, client, settings.worker_call_timeout_s, settings.worker_orphan_timeout_s
        )
    else:
        from signalrisk.compute.localfleet import LocalProcessFleet
        from signalrisk.workers.ec2_manager import handle

        fleet = LocalProcessFleet(settings.home, settings.worker_orphan_timeout_s)
        provider = cls(lambda event: handle(event, fleet), client, settings.worker_call_timeout_s)
    return provider
