"""The machine, the code and the moment a benchmark ran: printed at the top of every report.

The commit is read from ``.git`` directly (HEAD, loose refs, packed-refs), so the suite needs no
git executable and changes nothing in the repository.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_dir(root: Path) -> Path | None:
    dot_git = root / ".git"
    if dot_git.is_file():  # a worktree: "gitdir: <path>"
        text = dot_git.read_text().strip()
        if text.startswith("gitdir:"):
            return (root / text.split(":", 1)[1].strip()).resolve()
    return dot_git if dot_git.is_dir() else None


def git_commit(root: Path = ROOT) -> str:
    """The checked-out commit, or ``"unknown"`` outside a git checkout."""
    git = _git_dir(root)
    if git is None:
        return "unknown"
    head = (git / "HEAD").read_text().strip()
    if not head.startswith("ref:"):
        return head
    ref = head.split(":", 1)[1].strip()
    common = git
    if (git / "commondir").is_file():
        common = (git / (git / "commondir").read_text().strip()).resolve()
    for base in (git, common):
        if (base / ref).is_file():
            return (base / ref).read_text().strip()
        packed = base / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0]
    return "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, cores, RAM, Python and numpy versions, commit, date and load averages now."""
    try:
        import numba  # type: ignore[import-not-found, import-untyped, unused-ignore]

        numba_version: str | None = str(numba.__version__)
    except ImportError:
        numba_version = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_bytes": psutil.virtual_memory().total,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba_version,
        "platform": platform.platform(),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_start": list(os.getloadavg()),
    }


def _bench_leftover(proc: psutil.Process) -> str:
    """`` (bench leftover)`` for a process of an earlier figure's API (its home is a bench
    temporary directory), so that the report can tell our own stragglers from other load."""
    try:
        home = proc.environ().get("SIGNALRISK_HOME", "")
    except psutil.Error:
        return ""
    return " (bench leftover)" if "/bench-" in home else ""


def other_cpu(interval_s: float = 0.5) -> dict[str, Any]:
    """CPU used by processes outside this benchmark's tree over ``interval_s`` (percent of one
    core), with the busiest few: the machine may be shared, and this says by whom."""
    mine = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    procs = [p for p in psutil.process_iter(["name", "cmdline"]) if p.pid not in mine]
    for proc in procs:
        try:
            proc.cpu_percent(None)
        except psutil.Error:
            continue
    time.sleep(interval_s)
    busy: list[tuple[float, str]] = []
    for proc in procs:
        try:
            percent = proc.cpu_percent(None)
        except psutil.Error:
            continue
        if percent > 0:
            cmdline = proc.info.get("cmdline") or [proc.info.get("name") or "?"]
            label = " ".join([Path(cmdline[0]).name, *cmdline[1:4]])[:60]
            busy.append((percent, label + _bench_leftover(proc)))
    busy.sort(reverse=True)
    return {
        "percent": round(sum(p for p, _ in busy), 1),
        "top": [f"{p:.0f}% {c}" for p, c in busy[:3] if p >= 5.0],
    }
