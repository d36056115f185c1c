"""The operator's commands: ``serve`` the API, ``cleanup`` after a crash, ``deploy`` and
``destroy`` the aws platform, ``version``."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from signalrisk.core.config import Settings
from signalrisk.core.logs import configure_logging, logging_config


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = os.environ.get(
        "HOST", "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="port to bind")] = int(os.environ.get("PORT", "8080")),
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Start the API (embedded local platform unless SIGNALRISK_PLATFORM=aws)."""
    import uvicorn

    settings = Settings()
    configure_logging(settings.log_format)
    # Beyond loopback, or on loopback behind a local reverse proxy (trust_loopback off),
    # callers are strangers: without a token the only way in is an explicit anonymous opt-in.
    if (not _loopback(host) or not settings.trust_loopback) and not settings.token:
        if not settings.allow_anonymous:
            where = host if _loopback(host) else f"{host} (beyond loopback)"
            typer.echo(
                f"refusing to serve on {where} without a token: set SIGNALRISK_TOKEN "
                "(or SIGNALRISK_ALLOW_ANONYMOUS=1 to accept anyone)",
                err=True,
            )
            raise typer.Exit(2)
        logging.getLogger("signalrisk").warning(
            "anonymous access is enabled on %s: anyone who can reach it can spend money", host
        )
    typer.echo(f"signalrisk: platform={settings.platform} home={settings.home}")
    typer.echo(f"signalrisk: serving on http://{host}:{port}  (docs at /docs)")
    os.environ["SIGNALRISK_HOME"] = str(settings.home)
    uvicorn.run(
        "signalrisk.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=logging_config(settings.log_format),
    )


def cleanup(
    wait_s: Annotated[float, typer.Option(help="how long to wait for everything to stop")] = 10.0,
) -> None:
    """Find and stop every resource of this deployment, by record and by tag, even after a crash.

    Scales still recorded as live are terminated through their provider; then any local worker
    process of this home that no record knows about is stopped too.
    """
    from signalrisk.compute.localproc import find_workers, kill_worker
    from signalrisk.services.facade import Facade

    settings = Settings()
    facade = Facade(settings)
    facade.start()
    try:
        stopped = facade.scales.terminate_all(wait_s)
        typer.echo(f"terminated {stopped} scale(s) recorded as live")
        strays = [
            p for p in find_workers() if p.environ().get("SIGNALRISK_HOME") == str(settings.home)
        ]
        for process in strays:
            kill_worker(process.pid, process.create_time(), grace_s=min(wait_s, 3.0))
        typer.echo(f"stopped {len(strays)} unrecorded worker process(es)")
        if settings.platform == "aws":
            from signalrisk.compute.ec2fleet import Ec2Fleet

            fleet = Ec2Fleet(settings.aws)
            tagged = fleet.find({})  # every live instance tagged with this deployment
            fleet.terminate(tagged)
            typer.echo(f"terminated {len(tagged)} instance(s) tagged with this deployment")
    finally:
        facade.close()


def _require_aws(target: str) -> None:
    if target != "aws":
        typer.echo(f"unknown target {target!r}: the only deployment target is 'aws'", err=True)
        raise typer.Exit(2)


def deploy(
    target: Annotated[str, typer.Argument(help="where to deploy: aws")],
    package: Annotated[
        Path | None, typer.Option(help="a function zip to use instead of building")
    ] = None,
) -> None:
    """Create or update, idempotently, the bucket, IAM roles and functions of the aws platform."""
    import tempfile

    from signalrisk.deploy.aws import AwsDeployment
    from signalrisk.deploy.package import build_lambda_zip, download_wheels

    _require_aws(target)
    settings = Settings()
    with tempfile.TemporaryDirectory() as scratch:
        if package is None:
            wheels = download_wheels(Path(scratch) / "wheels")
            package = build_lambda_zip(Path(scratch) / "signalrisk-lambda.zip", wheels)
        report = AwsDeployment(settings).deploy(package)
    _print_report(report)


def destroy(
    target: Annotated[str, typer.Argument(help="what to remove: aws")],
    delete_audit: Annotated[
        bool, typer.Option(help="also delete the audit bucket and its records")
    ] = False,
) -> None:
    """Remove the functions, roles and security group; the audit bucket stays unless asked."""
    from signalrisk.deploy.aws import AwsDeployment

    _require_aws(target)
    _print_report(AwsDeployment(Settings()).destroy(delete_audit=delete_audit))


def _print_report(report: object) -> None:
    for kind in ("created", "updated", "unchanged", "deleted", "kept"):
        for item in getattr(report, kind, []):
            typer.echo(f"{kind:>9}  {item}")


def version() -> None:
    """Print the version."""
    from signalrisk import __version__

    typer.echo(__version__)
