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

    lambda_gb_second: float = Field(0.0000166667, ge=0, description="Lambda, per GB-second billed")
    lambda_per_request: float = Field(0.20 / 1_000_000, ge=0, description="Lambda, per request")
    lambda_memory_mb: int = Field(
        1024, ge=128, le=10240, description="memory of the compute function (MB), billed per GB-s"
    )
    lambda_provisioned_gb_second: float = Field(
        0.0000041667, ge=0, description="Lambda provisioned concurrency, per GB-second held"
    )
    ec2_instance_type: str = Field("t2.micro", description="instance type the EC2 prices are for")
    ec2_hourly: float = Field(0.0116, ge=0, description="EC2 instance, per hour")
    ec2_ipv4_hourly: float = Field(0.005, ge=0, description="public IPv4 address, per hour")
    ec2_minimum_seconds: float = Field(
        60.0, ge=0, description="EC2 minimum charge per instance lifetime (s)"
    )
    ec2_boot_seconds: float = Field(
        45.0, ge=0, description="boot time charged on the local platform instead of process start"
    )
    # What an analysis is assumed to take before it runs, for its estimated cost (the cap
    # ``limits.max_analysis_usd``). Lambda's package and the EC2 instances run the numpy kernel
    # (numba does not fit Lambda's 250 MB, and instances install signalrisk without the ``fast``
    # extra); BENCHMARKS.md measures it at 364 M draws/s on one core.
    estimate_draws_per_s: float = Field(
        364e6, gt=0, description="Monte Carlo draws per second of one vCPU (numpy kernel)"
    )
    lambda_mb_per_vcpu: float = Field(
        1769.0, gt=0, description="Lambda memory that buys one full vCPU (AWS Lambda docs)"
    )
    estimate_batch_overhead_s: float = Field(
        0.01, ge=0, description="fixed seconds per batch: payload, set-up, answer"
    )


class Limits(BaseModel):
    """Guards on the size of a job; the defaults admit 500 signals x d=1e7 x r=32."""

    max_r_lambda: int = Field(64, ge=1, le=1000, description="largest r for lambda")
    max_r_ec2: int = Field(32, ge=1, le=1000, description="largest r for ec2")
    max_d: int = Field(10_000_000, ge=1, description="largest d (shots per resource)")
    max_work: int = Field(500 * 10_000_000 * 32, ge=1, description="max of d x r x signals")
    # The seed's bodies are tens of bytes; the largest legitimate one is a direct invocation
    # with a mean and a std per signal (~45 bytes a signal), so 256 KiB leaves room for 5000.
    max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="largest request body in bytes (413 beyond it)"
    )
    max_analysis_usd: float | None = Field(
        None, gt=0, description="refuse an analysis whose estimated cost exceeds this (USD)"
    )

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
    compute_function: str = Field("signalrisk-compute", description="the compute Lambda")
    manager_function: str = Field(
        "signalrisk-ec2-manager", description="the Lambda that manages instances"
    )
    storage_function: str = Field(
        "signalrisk-storage", description="the Lambda in front of the audit bucket"
    )
    manager_via_lambda: bool = Field(False, description="call the EC2 manager through its Lambda")
    storage_via_lambda: bool = Field(False, description="reach S3 through the storage Lambda")
    provisioned_concurrency: bool = Field(
        False, description="warm Lambda with provisioned concurrency"
    )
    invoke_attempts: int = Field(
        8,
        ge=1,
        le=30,
        description="Invoke attempts of the compute function while Lambda throttles it (429),"
        " the first included",
    )
    invoke_backoff_s: float = Field(
        0.1,
        gt=0,
        le=10,
        description="wait bound after the first throttled Invoke (s); it doubles per attempt"
        " up to 5 s, each wait drawn uniformly below it",
    )
    ami: str | None = Field(None, description="default: latest Amazon Linux 2023 (SSM parameter)")
    instance_type: str = Field("t2.micro", description="EC2 instance type of the workers")
    subnet_id: str | None = Field(None, description="default: the default VPC's")
    security_group_id: str | None = Field(None, description="default: one created by deploy")
    ingress_cidr: str = Field("0.0.0.0/0", description="who may reach the workers' port")
    key_name: str | None = Field(None, description="EC2 key pair for SSH (none by default)")
    instance_profile: str | None = Field(None, description="IAM instance profile of the workers")
    worker_port: int = Field(8080, ge=1, le=65535, description="port the workers serve on")
    install_spec: str = Field("signalrisk", description="what user-data pip-installs on instances")
    instance_idle_timeout_s: float = Field(900.0, gt=0, description="instances stop when idle")
    ec2_warmup_deadline_s: float = Field(
        600.0, gt=0, description="boot, install and start of an instance take minutes"
    )
    presign_expiry_s: int = Field(
        3600, ge=60, le=604800, description="lifetime of presigned chart URLs (s)"
    )


class Settings(BaseSettings):
    """Every setting of signalrisk, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="SIGNALRISK_", env_nested_delimiter="__", extra="ignore"
    )

    platform: Platform = Field("local", description="local (embedded, no account) or aws")
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

    price_source: Literal["bundled", "csv", "yahoo"] = Field(
        "bundled", description="daily prices: the bundled sample, CSV files or Yahoo Finance"
    )
    csv_path: Path | None = Field(None, description="CSV file or directory of <TICKER>.csv")
    default_ticker: str = Field("NVDA", description="ticker of an analysis that names none")
    window_days: int = Field(1094, ge=10, description="default window: end - window_days .. end")

    warmup_deadline_s: float = Field(
        60.0, gt=0, description="a warm-up not ready this long fails and is cleaned up"
    )
    worker_call_timeout_s: float = Field(
        600.0, gt=0, description="longest wait for one batch on one resource"
    )
    worker_orphan_timeout_s: float = Field(
        300.0, gt=0, description="a local worker not called for this long stops itself"
    )
    heartbeat_interval_s: float = Field(
        30.0, gt=0, description="how often a ready scale is probed (and kept alive)"
    )
    max_replacements: int = Field(
        8,
        ge=0,
        description="dead resources of a ready scale are replaced, at most this many times per"
        " scale; 0 turns replacement off",
    )
    background_driver: bool = Field(
        True, description="drive warm-ups in a thread (off on App Engine: polling drives them)"
    )
    idle_ttl_s: float | None = Field(
        None,
        gt=0,
        description="terminate a ready scale unused this long (seconds since it became ready or"
        " its last analysis ended); checked every heartbeat",
    )

    log_format: Literal["text", "json"] = Field(
        "text", description="API log lines: text with key=value context, or one JSON object each"
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
