"""The user-data that turns a fresh Amazon Linux 2023 instance into a signalrisk worker.

cloud-init runs it once, as root, at first boot::

    system packages (python3.11) ─► instance id from IMDSv2 ─► install ─► start the service

*install* (:func:`render_install_script`) puts signalrisk in a virtualenv in ``/opt/signalrisk``,
writes the scale's secret to a root-only environment file and a systemd unit that serves the
worker app with it. The secret is only ever in a file (here-document bodies are not command
lines, so ``ps`` never shows it). When the worker exits, whether its idle watchdog stopped it
(nobody called for ``instance_idle_timeout_s``: the API finished, crashed or forgot the scale) or
it failed, ``ExecStopPost`` powers the instance off, and ``InstanceInitiatedShutdownBehavior =
terminate`` ends it for good. A failure of the user-data itself powers off the same way.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from signalrisk.core.config import AwsSettings

SERVICE = "signalrisk-worker"
SECRET_VARIABLE = "SIGNALRISK_WORKER_SECRET"  # noqa: S105 - a variable name
SHUTDOWN = "/sbin/shutdown -h now"

_SECRET = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
# The unit is written by an unquoted here-document (to expand $INSTANCE_ID) and read by systemd
# (which expands % specifiers): paths must not carry characters either would interpret.
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9._/-]+$")


def venv_dir(root: Path = Path("/")) -> Path:
    return root / "opt" / "signalrisk"


def env_file(root: Path = Path("/")) -> Path:
    return root / "etc" / "signalrisk" / "worker.env"


def unit_file(root: Path = Path("/")) -> Path:
    return root / "etc" / "systemd" / "system" / f"{SERVICE}.service"


def worker_argv(settings: AwsSettings, instance_id: str, root: Path = Path("/")) -> list[str]:
    """The service's command line (no secret: the worker reads it from its environment)."""
    return [
        str(venv_dir(root) / "bin" / "python"),
        "-m",
        "signalrisk.workers.serve",
        "--host",
        "0.0.0.0",  # noqa: S104 - the instance serves the API over its public address
        "--port",
        str(settings.worker_port),
        "--resource-id",
        instance_id,
        "--idle-timeout",
        f"{settings.instance_idle_timeout_s:g}",
    ]


def render_unit(settings: AwsSettings, instance_id: str, root: Path = Path("/")) -> str:
    """The systemd unit of the worker service."""
    return "\n".join(
        [
            "[Unit]",
            "Description=signalrisk worker: a scale's Monte Carlo compute over HTTP",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=exec",
            f"EnvironmentFile={env_file(root)}",
            "Environment=OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1",
            f"ExecStart={' '.join(worker_argv(settings, instance_id, root))}",
            "# The worker exits when idle (its watchdog) or when it fails: power off, and the",
            "# instance's shutdown behaviour (terminate) ends it. '+' runs this as root.",
            f"ExecStopPost=+{SHUTDOWN}",
            "Restart=no",
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def render_install_script(
    secret: str, settings: AwsSettings, *, root: Path = Path("/"), python: str = "python3.11"
) -> str:
    """The install-and-configure part of the user-data, exactly as embedded in it.

    Expects ``INSTANCE_ID`` in the environment. With another ``root`` (and ``python``) it
    installs into a scratch directory instead, which is how the tests run it for real.
    """
    if not _SECRET.match(secret):
        raise ValueError("secret must be URL-safe characters (no blanks, quotes, $ or newlines)")
    if not _PLAIN_PATH.match(str(root)):
        raise ValueError(f"root must be a plain path: {root}")
    venv, secrets_file, unit = venv_dir(root), env_file(root), unit_file(root)
    quote = shlex.quote
    return f"""\
# -- signalrisk in its own virtualenv
{quote(python)} -m venv {venv}
{venv}/bin/python -m pip install --quiet --disable-pip-version-check {quote(settings.install_spec)}

# -- the scale's secret: a root-only file that systemd reads; never on a command line
install -d -m 700 {secrets_file.parent}
(umask 077 && cat > {secrets_file} <<'SIGNALRISK_ENV'
{SECRET_VARIABLE}={secret}
SIGNALRISK_ENV
)

# -- the worker service (its ExecStopPost powers the instance off when the worker stops)
install -d -m 755 {unit.parent}
cat > {unit} <<SIGNALRISK_UNIT
{render_unit(settings, "${INSTANCE_ID}", root)}SIGNALRISK_UNIT
"""


def render_user_data(secret: str, settings: AwsSettings) -> str:
    """The cloud-init shell script for Amazon Linux 2023 that runs a worker of one scale."""
    install = render_install_script(secret, settings)
    return f"""\
#!/bin/bash
# signalrisk worker (user-data). Any failure powers the instance off, which terminates it.
set -Eeuo pipefail
power_off() {{
  echo "signalrisk: $1; powering off" >&2
  {SHUTDOWN}
  exit 1
}}
trap 'power_off "user-data failed at line $LINENO"' ERR

dnf install -y -q python3.11 python3.11-pip

imds() {{  # IMDSv2: a session token first (instances launch with tokens required)
  local token
  token=$(curl -sSf --retry 5 -X PUT http://169.254.169.254/latest/api/token \\
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -sSf --retry 5 -H "X-aws-ec2-metadata-token: $token" \\
    "http://169.254.169.254/latest/meta-data/$1"
}}
INSTANCE_ID=$(imds instance-id)
[[ $INSTANCE_ID =~ ^i-[0-9a-f]+$ ]] || power_off "no instance id from IMDS: $INSTANCE_ID"
export INSTANCE_ID

{install}
systemctl daemon-reload
systemctl enable --now {SERVICE}.service
"""
