"""Everything the API and the CLI share: settings, database, stores, prices, compute."""

from __future__ import annotations

import threading

import httpx

from signalrisk.compute.base import ComputeProvider
from signalrisk.compute.registry import compute_provider
from signalrisk.core.config import Settings
from signalrisk.db.engine import Database
from signalrisk.sources.base import PriceSource
from signalrisk.sources.registry import price_source
from signalrisk.storage.base import ObjectStore
from signalrisk.storage.registry import object_store


def audit_bucket(settings: Settings) -> str:
    """The audit bucket: configured, or what ``signalrisk deploy aws`` names it."""
    if settings.aws.bucket:
        return settings.aws.bucket
    import boto3

    account = boto3.client("sts", region_name=settings.aws.region).get_caller_identity()
    return f"{settings.aws.deployment}-audit-{account['Account']}"


def audit_store(settings: Settings) -> ObjectStore:
    """Where audit records and charts go: a local directory, S3, or S3 through the storage
    Lambda, by platform and configuration."""
    if settings.platform == "local":
        return object_store("local", root=settings.home / "store")
    if settings.aws.storage_via_lambda:
        return object_store("lambda", function_name=settings.aws.storage_function)
    return object_store("s3", bucket=audit_bucket(settings))


class ServiceContext:
    """The long-lived parts of one service process, built once from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.sqlalchemy_url)
        self.store: ObjectStore = audit_store(settings)
        self.prices: PriceSource = price_source(settings)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self.http = httpx.Client(limits=limits, timeout=settings.worker_call_timeout_s)
        self._providers: dict[str, ComputeProvider] = {}
        self._lock = threading.Lock()

    def provider(self, service: str) -> ComputeProvider:
        """The compute provider of ``service`` on the configured platform (built once)."""
        with self._lock:
            if service not in self._providers:
                self._providers[service] = compute_provider(self.settings, service, self.http)
            return self._providers[service]

    def close(self) -> None:
        self.http.close()
        self.db.dispose()
