"""Figure 5: requests/s of the GET result endpoints under wrk, API in its production setup.

The API runs as ``signalrisk serve --workers 2`` (two uvicorn worker processes sharing the
database) on a fresh home; a lambda scale of r = 3 is warmed up and the standard analysis run
once. Then wrk (keep-alive, 50 connections, 2 threads, loopback) loads each result endpoint in
turn for ``duration`` seconds, and all of them together (``bench/wrk_report.lua`` rotates over
the paths it is given and prints its summary as JSON). wrk shares the 2 cores with the API.

Consistency: after the load, a new analysis (another seed, so the VaRs change) is posted to
one process; then fresh connections, each accepted by whichever process wins it (identified
through the kernel's socket table), read /get_tot_profit_loss and /get_avg_vars9599, and every
answer is compared with the last run's result read straight from the SQLite database.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psutil

from bench.api import ApiProcess
from bench.common import Figure, Mode, Row, load_average
from bench.latency import STANDARD
from bench.machine import ROOT
from signalrisk.seedclient import RESULTS

API_WORKERS = 2
RPS_TARGET, P99_TARGET_MS = 3000.0, 25.0
LUA = ROOT / "bench" / "wrk_report.lua"


def run_wrk(url: str, paths: list[str], seconds: int) -> dict[str, Any]:
    """One wrk run over ``paths``; its summary (requests/s, latency percentiles, errors)."""
    command = ["wrk", "-t2", "-c50", f"-d{seconds}s", "-s", str(LUA), url, "--", *paths]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    match = re.search(r"^WRKJSON (.*)$", done.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no summary from wrk:\n{done.stdout}\n{done.stderr}")
    out: dict[str, Any] = json.loads(match.group(1))
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    out["errors"] = sum(
        out[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return out


def database_answers(home: Path) -> dict[str, Any]:
    """The last run's total P/L and average VaRs, read from the database itself."""
    db = sqlite3.connect(f"file:{home / 'signalrisk.db'}?mode=ro", uri=True)
    try:
        (run_id,) = db.execute("SELECT last_run_id FROM control").fetchone()
        (text,) = db.execute("SELECT result FROM runs WHERE id = ?", (run_id,)).fetchone()
    finally:
        db.close()
    result = json.loads(text)
    return {
        "/get_tot_profit_loss": {"profit_loss": result["total_profit_loss"]},
        "/get_avg_vars9599": {"var95": result["av95"], "var99": result["av99"]},
    }


def _serving_pid(api: ApiProcess, client_port: int) -> int | None:
    """The API process holding the server end of our connection from ``client_port``."""
    for proc in api.tree():
        try:
            connections = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        for conn in connections:
            ends = (conn.laddr.port if conn.laddr else 0, conn.raddr.port if conn.raddr else 0)
            if ends == (api.port, client_port):
                return proc.pid
    return None


def check_consistency(api: ApiProcess, tries: int) -> dict[str, Any]:
    """Fresh connections until every API process has answered; answers vs the database."""
    expected = database_answers(api.home)
    by_pid: dict[str, int] = {}
    mismatches: list[str] = []
    for _ in range(tries):
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
        try:
            conn.connect()
            client_port = conn.sock.getsockname()[1]
            answers = {}
            for path in expected:
                conn.request("GET", path)
                answers[path] = json.loads(conn.getresponse().read())
            pid = _serving_pid(api, client_port)
        finally:
            conn.close()
        by_pid[str(pid)] = by_pid.get(str(pid), 0) + 1
        wrong = {p: a for p, a in answers.items() if a != expected[p]}
        if wrong:
            mismatches.append(f"pid {pid}: {wrong}")
        if len(by_pid) >= API_WORKERS and sum(by_pid.values()) >= 20:
            break
    return {"expected": expected, "answers_by_pid": by_pid, "mismatches": mismatches}


def run(mode: Mode) -> Figure:
    figure = Figure("throughput", "5. API throughput, GET result endpoints (wrk)")
    seconds = mode.pick(10, 3)
    have_wrk = shutil.which("wrk") is not None
    with (
        tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch,
        ApiProcess(Path(scratch), workers=API_WORKERS) as api,
    ):
        api.warm("lambda", 3)
        api.analyse({**STANDARD, "seed": "1"})
        runs: dict[str, Any] = {}
        if have_wrk:
            targets = [[p] for p in RESULTS] if not mode.quick else []
            for paths in [*targets, list(RESULTS)]:
                name = paths[0] if len(paths) == 1 else "all 7, in turn"
                runs[name] = {**run_wrk(api.url, paths, seconds), "load_average": load_average()}
        api.analyse({**STANDARD, "seed": "2"})
        consistency = check_consistency(api, tries=200)
        api.terminate()
        api.error_rows(figure)
    figure.raw.update({"wrk": runs, "consistency": consistency, "api_workers": API_WORKERS})
    for name, res in runs.items():
        p99_ms = res["p99_us"] / 1000.0
        figure.rows.append(
            Row(
                "5",
                f"GET {name}: req/s, p99, errors",
                f">= {RPS_TARGET:.0f}/s, <= {P99_TARGET_MS:.0f} ms, 0",
                f"{res['rps']:,.0f}/s, {p99_ms:.1f} ms, {res['errors']}",
                passed=res["rps"] >= RPS_TARGET and p99_ms <= P99_TARGET_MS and not res["errors"],
            )
        )
    if not have_wrk:
        figure.rows.append(
            Row("5", "GET result endpoints", ">= 3000/s", "skipped: wrk is not installed")
        )
        figure.notes.append("wrk not found: `apt-get install -y wrk` (make bench tries it).")
    seen = consistency["answers_by_pid"]
    answered = sum(seen.values())
    figure.rows.append(
        Row(
            "5",
            f"answers = database, across the {API_WORKERS} API processes",
            f"all equal, {API_WORKERS} processes",
            f"{answered - len(consistency['mismatches'])}/{answered} equal, "
            f"{len([p for p in seen if p != 'None'])} processes",
            passed=not consistency["mismatches"]
            and len([p for p in seen if p != "None"]) >= API_WORKERS,
        )
    )
    figure.notes.append(
        f"signalrisk serve --workers {API_WORKERS}; wrk -t2 -c50 -d{seconds}s, keep-alive, "
        "on the same 2 cores as the API."
    )
    return figure
