"""``signalrisk run``: a whole analysis on the embedded platform, in a process of its own, which
always leaves the scale terminated and no worker behind: after success, after an error the API
answered, and after Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from signalrisk.compute.localproc import find_workers

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def signalrisk(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "SIGNALRISK_HOME": str(home)}
    env.pop("SIGNALRISK_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "signalrisk.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def workers_of(home: Path) -> list[int]:
    """Worker processes of this home, found as ``signalrisk cleanup`` finds them."""
    return [p.pid for p in find_workers() if p.environ().get("SIGNALRISK_HOME") == str(home)]


def test_run_prints_the_results_saves_the_chart_and_leaves_no_worker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = signalrisk("run", "-r", "2", "-d", "2000", "--seed", "3", home=home)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    match = re.search(r"^run ([0-9a-f]{16}) \(ok\)", out, re.MULTILINE)
    assert match, out
    run_id = match.group(1)
    assert re.search(r"│\s+│ total\s+│.*│\s+-39\.763 │", out), out
    assert "signals: 36" in out and "seed 3" in out
    chart = home / "charts" / f"{run_id}.png"
    assert f"chart saved to {chart}" in out
    assert chart.read_bytes().startswith(PNG_MAGIC)
    assert "resources ready" in err and "resources stopped" in err
    assert workers_of(home) == []


def test_run_json_has_the_run_and_the_chart_path(tmp_path: Path) -> None:
    home, chart = tmp_path / "home", tmp_path / "charts" / "mine.png"
    process = signalrisk(
        "run", "-s", "ec2", "-r", "2", "-d", "2000", "--chart", str(chart), "--json", home=home
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    answer = json.loads(out)
    assert answer["chart"] == str(chart)
    assert chart.read_bytes().startswith(PNG_MAGIC)
    run = answer["run"]
    assert (run["request"]["s"], run["request"]["r"], run["signals"]) == ("ec2", 2, 36)
    assert round(run["total_profit_loss"], 3) == -39.763
    assert workers_of(home) == []


def test_run_with_a_bad_parameter_exits_1_naming_it_and_leaves_no_worker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = signalrisk("run", "-r", "2", "-h", "2", "-d", "2000", home=home)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert out == ""
    assert "error invalid_parameter: h must be" in err and "[field: h]" in err
    assert "Traceback" not in err
    assert "resources stopped" in err  # the warm scale was terminated all the same
    assert workers_of(home) == []


def test_run_interrupted_while_warming_up_exits_130_and_leaves_no_worker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = signalrisk("run", "-r", "2", "-d", "2000", home=home)
    assert process.stderr is not None
    while "warming up" not in (line := process.stderr.readline()):
        assert line, "run ended before warming up"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert workers_of(home) == []
