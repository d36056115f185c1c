"""The Lambda deployment package: our handlers plus numpy built for the Lambda Python runtime.

numba does not fit Lambda's 250 MB limit, so the functions run the numpy path. The zip is
deterministic (sorted entries, fixed timestamps): the same code gives the same bytes and the
same CodeSha256, so deploying twice changes nothing.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import signalrisk

LAMBDA_PLATFORM = "manylinux2014_x86_64"
LAMBDA_PYTHON = "3.11"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_SUFFIXES = (".pyc", ".csv")
_SKIP_PARTS = {"__pycache__", "web", "tests"}


def download_wheels(dest: Path, requirements: tuple[str, ...] = ("numpy",)) -> list[Path]:
    """Binary wheels of ``requirements`` for the Lambda runtime (Linux x86_64, CPython 3.11)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--platform",
            LAMBDA_PLATFORM,
            "--python-version",
            LAMBDA_PYTHON,
            "--implementation",
            "cp",
            "--dest",
            str(dest),
            *requirements,
        ],
        check=True,
    )
    return sorted(dest.glob("*.whl"))


def _package_files() -> list[tuple[Path, str]]:
    root = Path(signalrisk.__file__).parent
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root.parent)
        if path.is_dir() or path.suffix in _SKIP_SUFFIXES or _SKIP_PARTS & set(relative.parts):
            continue
        files.append((path, relative.as_posix()))
    return files


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_lambda_zip(dest: Path, wheels: list[Path]) -> Path:
    """Write the function package to ``dest``: the signalrisk package and the given wheels."""
    entries: dict[str, bytes] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as source:
            for name in source.namelist():
                # A library's own test suite is dead weight under Lambda's size limit.
                if not name.endswith("/") and "/tests/" not in name:
                    entries[name] = source.read(name)
    for path, name in _package_files():
        entries[name] = path.read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as archive:
        for name in sorted(entries):
            _write(archive, name, entries[name])
    return dest
