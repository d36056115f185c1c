"""One typed configuration for the whole service, read from the environment at the edges.

Every setting has an environment variable ``SIGNALRISK_<NAME>``; nested groups use a double
underscore, e.g. ``SIGNALRISK_PRICES__EC2_HOURLY=0.0104``. Bounds are validated here, so a bad
value stops the service at start-up with a message that names it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Platform = Literal["local", "aws"]
ServiceName = Literal["lambda", "ec2"]


class PriceTable(BaseModel):
    """AWS on-demand list prices, us-east-1 (USD). Costs are estimates from these figures."""

    lambda_gb_second: float = Field(0.0000166667, ge=0)
    lambda_per_request: float = Field(0.20 / 1_000_000, ge=0)
    lambda_memory_mb: int = Field(1024, ge=128, le=10240)
    lambda_provisioned_gb_second: float = Field(0.0000041667, ge=0)
    ec2_instance_type: str = "t2.micro"
    ec2_hourly: float = Field(0.0116, ge=0)
    ec2_ipv4_hourly: float = Field(0.005, ge=0)
    ec2_minimum_seconds: float = Field(60.0, ge=0)
    ec2_boot_seconds: float = Field(
        45.0, ge=0, description="boot time charged on the local platform instead of process start"
    )


class Limits(BaseModel):
    """Guards on the size of a job; the defaults admit 500 signals x d=1e7 x r=32."""

    max_r_lambda: int = Field(64, ge=1, le=1000)
    max_r_ec2: int = Field(32, ge=1, le=1000)
    max_d: int = Field(10_000_000, ge=1)
    max_work: int = Field(500 * 10_000_000 * 32, ge=1, description="max of d x r x signals")

    def max_r(self, service: ServiceName) -> int:
        return self.max_r_lambda if service == "lambda" else self.max_r_ec2


class AwsSettings(BaseModel):
    """The aws platform. Credentials, region and endpoints come from the standard AWS chain
    (``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_LAMBDA``, ...), so pointing
    signalrisk at an emulator changes no code. Names default to what ``signalrisk deploy aws``
    creates."""

    region: str | None = Field(None, description="default: the AWS chain (AWS_DEFAULT_REGION)")
    deployment: str = Field(
        "signalrisk", pattern=r"^[a-z0-9-]{1,40}$", description="name prefix and tag value"
    )
    bucket: str | None = Field(
        None, description="audit bucket; default <deployment>-audit-<account>"
    )
    compute_function: str = "signalrisk-compute"
    manager_function: str = "signalrisk-ec2-manager"
    storage_function: str = "signalrisk-storage"
    manager_via_lambda: bool = Field(False, description="call the EC2 manager through its Lambda")
    storage_via_lambda: bool = Field(False, description="reach S3 through the storage Lambda")
    provisioned_concurrency: bool = Field(
        False, description="warm Lambda with provisioned concurrency"
    )
    ami: str | None = Field(None, description="default: latest Amazon Linux 2023 (SSM parameter)")
    instance_type: str = "t2.micro"
    subnet_id: str | None = None
    security_group_id: str | None = Field(None, description="default: one created by deploy")
    ingress_cidr: str = Field("0.0.0.0/0", description="who may reach the workers' port")
    key_name: str | None = None
    instance_profile: str | None = None
    worker_port: int = Field(8080, ge=1, le=65535)
    install_spec: str = Field("signalrisk", description="what user-data pip-installs on instances")
    instance_idle_timeout_s: float = Field(900.0, gt=0, description="instances stop when idle")
    ec2_warmup_deadline_s: float = Field(
        600.0, gt=0, description="boot, install and start of an instance take minutes"
    )
    presign_expiry_s: int = Field(3600, ge=60, le=604800)


class Settings(BaseSettings):
    """Every setting of signalrisk, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="SIGNALRISK_", env_nested_delimiter="__", extra="ignore"
    )

    platform: Platform = "local"
    home: Path = Field(Path("var"), description="database, audit and charts of the local platform")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in home")

    token: str | None = Field(None, description="bearer token for full access beyond loopback")
    read_token: str | None = Field(None, description="bearer token for read-only access")
    allow_anonymous: bool = Field(False, description="serve beyond loopback with no token")
    trust_loopback: bool = Field(
        True,
        description="callers on 127.0.0.1 need no token; set false behind a reverse proxy on "
        "the same host, where every caller looks local",
    )

    price_source: Literal["bundled", "csv", "yahoo"] = "bundled"
    csv_path: Path | None = Field(None, description="CSV file or directory of <TICKER>.csv")
    default_ticker: str = "NVDA"
    window_days: int = Field(1094, ge=10, description="default window: end - window_days .. end")

    warmup_deadline_s: float = Field(60.0, gt=0)
    worker_call_timeout_s: float = Field(600.0, gt=0)
    worker_orphan_timeout_s: float = Field(
        300.0, gt=0, description="a local worker not called for this long stops itself"
    )
    heartbeat_interval_s: float = Field(30.0, gt=0)
    background_driver: bool = Field(
        True, description="drive warm-ups in a thread (off on App Engine: polling drives them)"
    )

    prices: PriceTable = PriceTable()
    limits: Limits = Limits()
    aws: AwsSettings = AwsSettings()

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _app_engine(self) -> Settings:
        """On App Engine every instance has its own disk and threads may be frozen between
        requests: the state must be in a shared database and progress is made by polling."""
        if os.environ.get("GAE_ENV", "").startswith("standard"):
            if not self.database_url or self.database_url.startswith("sqlite"):
                raise ValueError(
                    "on App Engine set SIGNALRISK_DATABASE_URL to a PostgreSQL URL: SQLite is"
                    " per instance"
                )
            self.background_driver = False
        return self

    def warmup_deadline(self, service: str) -> float:
        """Seconds a warm-up of ``service`` may take before it fails and is cleaned up."""
        if self.platform == "aws" and service == "ec2":
            return self.aws.ec2_warmup_deadline_s
        return self.warmup_deadline_s

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'signalrisk.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
