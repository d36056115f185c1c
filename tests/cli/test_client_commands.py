"""The client commands against a real API process: tables for people, ``--json`` equal to the
API's ``/v1`` answers, and one exit status per kind of failure.

The module shares one API (the ``api`` fixture). The tests that need it cold come first; the
``warm_run`` fixture then warms up r=2 with the CLI, follows it with ``status --wait`` and runs
one small analysis, which the result tests read. The last tests scale down and check that no
worker is left.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from signalrisk.cli import app
from signalrisk.cli.options import connect
from signalrisk.cli.output import fmt
from signalrisk.cli.render import PL, VAR
from tests.server import ApiServer, free_port

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL = ["-h", "101", "-d", "2000", "-t", "sell", "-p", "7"]


def cli(api: ApiServer | str, *args: str) -> Result:
    """``signalrisk <args> --url <the API>`` in this process, stdout and stderr apart."""
    url = api if isinstance(api, str) else api.url
    return CliRunner().invoke(app, [*args, "--url", url], catch_exceptions=False)


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_status_of_a_cold_api_says_so_in_table_and_json(api: ApiServer) -> None:
    table = cli(api, "status")
    assert table.exit_code == 0, table.output
    assert table.stdout.startswith("cold: no compute is running")
    answer = CliRunner().invoke(app, ["status", "--json"], env={"SIGNALRISK_URL": api.url})
    assert answer.exit_code == 0, answer.output
    assert as_json(answer) == api.get("/v1/scale").json()


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALRISK_TOKEN", "s3cret")
    with connect("http://127.0.0.1:1") as client:
        assert client.http.headers["Authorization"] == "Bearer s3cret"
    monkeypatch.delenv("SIGNALRISK_TOKEN")
    with connect("http://127.0.0.1:1") as client:
        assert "Authorization" not in client.http.headers


@pytest.mark.parametrize("command", [["analyse", *SMALL], ["results"], ["chart"], ["export"]])
def test_commands_needing_an_analysis_exit_1_with_the_api_error_code(
    api: ApiServer, command: list[str], tmp_path: Path
) -> None:
    expected = api.post("/analyse", {"h": 101, "d": 2000, "t": "sell", "p": 7}).json()["error"]
    if command[0] != "analyse":
        expected = api.get("/v1/runs/last").json()["error"]
    result = cli(api, *command)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error {expected['code']}: {expected['message']}")
    assert "Traceback" not in result.stderr
    answer = cli(api, *command, "--json")
    assert answer.exit_code == 1
    assert as_json(answer)["error"]["code"] == expected["code"] in ("not_warm", "no_analysis")


def test_unreachable_api_exits_3_naming_the_url_and_how_to_start_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cli(url, "status")
    assert result.exit_code == 3
    assert url in result.stderr and "signalrisk serve" in result.stderr
    assert "Traceback" not in result.stderr
    answer = cli(url, "warmup", "--json")
    assert answer.exit_code == 3
    assert as_json(answer)["error"]["code"] == "unreachable"


def test_bad_choice_is_a_usage_error_before_any_call() -> None:
    result = cli(f"http://127.0.0.1:{free_port()}", "analyse", "-t", "hold")
    assert result.exit_code == 2
    assert "hold" in result.stderr


@pytest.fixture(scope="module")
def warm_run(api: ApiServer) -> Iterator[dict[str, Any]]:
    """Warm up lambda x 2 and follow it; one analysis; its ``/v1`` run and the CLI outputs."""
    outputs = {"warmup": cli(api, "warmup", "-s", "lambda", "-r", "2")}
    outputs["status"] = cli(api, "status", "--wait", "--timeout", "30")
    outputs["analyse"] = cli(api, "analyse", *SMALL, "--seed", "11")
    run = api.get("/v1/runs/last").json()
    yield {"run": run, "outputs": outputs}
    api.terminate()


def test_warmup_then_status_wait_shows_progress_until_ready(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    warmup, status = warm_run["outputs"]["warmup"], warm_run["outputs"]["status"]
    assert warmup.exit_code == 0, warmup.output
    assert "lambda x 2" in warmup.stdout
    assert status.exit_code == 0, status.output
    assert "resources ready" in status.stderr and "2/2" in status.stderr
    assert status.stdout.startswith("ready: lambda x 2 on local, 2/2 resources ready")
    again = cli(api, "warmup", "-r", "2", "--wait", "--json")  # same s and r: a no-op
    assert again.exit_code == 0
    scale = as_json(again)
    assert scale["state"] == "ready" and len(scale["resources"]) == 2
    assert again.stderr == ""  # no progress drawn with --json


def test_analyse_prints_a_summary_and_json_equal_to_the_v1_run(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    run, analyse = warm_run["run"], warm_run["outputs"]["analyse"]
    assert analyse.exit_code == 0, analyse.output
    assert f"run {run['run_id']} (ok)" in analyse.stdout
    assert "signals: 36" in analyse.stdout and "total P/L -39.763" in analyse.stdout
    answer = cli(api, "analyse", *SMALL, "--seed", "11", "--json")
    assert answer.exit_code == 0
    again = as_json(answer)
    assert again == api.get(f"/v1/runs/{again['run_id']}").json()
    assert again["items"] == run["items"]  # same seed, same numbers


def test_results_table_has_every_signal_its_averages_and_totals(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    run = warm_run["run"]
    result = cli(api, "results", run["run_id"])
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1:-1] for line in result.stdout.splitlines() if "│" in line]
    cells = [[cell.strip() for cell in row] for row in rows]
    signal_rows = [c for c in cells if c[0].isdigit()]
    assert len(signal_rows) == run["signals"] == 36
    for row, item in zip(signal_rows, run["items"], strict=True):
        assert row[1:] == [
            item["date"],
            fmt(item["var95"], VAR),
            fmt(item["var99"], VAR),
            fmt(item["se95"], VAR),
            fmt(item["se99"], VAR),
            fmt(item["profit_loss"], PL),
        ]
    average = next(c for c in cells if c[1] == "average")
    assert average[2:4] == [fmt(run["av95"], VAR), fmt(run["av99"], VAR)]
    assert average[6] == fmt(run["avg_profit_loss"], PL)
    assert next(c for c in cells if c[1] == "total")[6] == "-39.763"
    assert f"seed {run['request']['seed']}" in result.stdout
    assert "billable" in result.stdout and "local-simulated" in result.stdout


def test_results_json_is_the_v1_run_of_that_id_or_the_last(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    run_id = warm_run["run"]["run_id"]
    by_id = cli(api, "results", run_id, "--json")
    assert by_id.exit_code == 0
    assert as_json(by_id) == api.get(f"/v1/runs/{run_id}").json()
    last = cli(api, "results", "--json")
    assert as_json(last) == api.get("/v1/runs/last").json()


def test_results_of_an_unknown_run_exits_1_not_found(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    result = cli(api, "results", "0000000000000000")
    assert result.exit_code == 1
    assert result.stderr.startswith("error not_found:")


def test_analyse_with_a_bad_parameter_exits_1_naming_the_field(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    result = cli(api, "analyse", "-h", "1", "-d", "2000")
    assert result.exit_code == 1
    assert result.stderr.startswith("error invalid_parameter: h must be")
    assert "[field: h]" in result.stderr
    answer = cli(api, "analyse", "-h", "101", "-d", "0", "--json")
    assert answer.exit_code == 1
    error = as_json(answer)["error"]
    assert (error["code"], error["field"], error["status"]) == ("invalid_parameter", "d", 422)


def test_chart_saves_the_png_of_a_run(
    api: ApiServer, warm_run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = warm_run["run"]["run_id"]
    target = tmp_path / "out" / "chart.png"
    result = cli(api, "chart", run_id, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(PNG_MAGIC)
    assert str(target) in result.stdout
    monkeypatch.chdir(tmp_path)
    answer = cli(api, "chart", "--json")  # the last run, to signalrisk-<id>.png here
    assert answer.exit_code == 0
    saved = as_json(answer)
    last = api.get("/v1/runs/last").json()["run_id"]
    assert saved["path"] == str(tmp_path / f"signalrisk-{last}.png")
    assert Path(saved["path"]).read_bytes().startswith(PNG_MAGIC)
    assert saved["bytes"] == Path(saved["path"]).stat().st_size


def test_export_writes_the_runs_signals_as_csv_equal_to_its_items(
    api: ApiServer, warm_run: dict[str, Any], tmp_path: Path
) -> None:
    run = warm_run["run"]
    to_stdout = cli(api, "export", run["run_id"])
    assert to_stdout.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(to_stdout.stdout)))
    assert len(rows) == len(run["items"]) == 36
    for row, item in zip(rows, run["items"], strict=True):
        assert row["date"] == item["date"]
        for key in ("var95", "var99", "se95", "se99", "profit_loss"):
            assert float(row[key]) == item[key]
    target = tmp_path / "signals.csv"
    to_file = cli(api, "export", run["run_id"], "-o", str(target), "--json")
    assert as_json(to_file) == {"run_id": run["run_id"], "path": str(target), "rows": 36}
    assert target.read_text() == to_stdout.stdout
    as_rows = cli(api, "export", run["run_id"], "--json")
    assert as_json(as_rows) == run["items"]


def test_audit_lists_the_latest_records_in_table_and_json(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    page = api.get("/v1/audit").json()
    assert page["total"] >= 2
    answer = cli(api, "audit", "--limit", "1", "--json")
    assert answer.exit_code == 0
    assert as_json(answer) == api.get(f"/v1/audit?offset={page['total'] - 1}&limit=1").json()
    table = cli(api, "audit")
    assert table.exit_code == 0
    assert f"of {page['total']}" in table.stdout
    for record in page["items"]:
        assert record["run_id"] in table.stdout
        assert fmt(record["av95"], VAR) in table.stdout


def test_reset_clears_the_last_analysis_and_keeps_the_scale(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    answer = cli(api, "reset", "--json")
    assert answer.exit_code == 0 and as_json(answer) == {"result": "ok"}
    assert cli(api, "reset").stdout.startswith("reset:")
    after = cli(api, "results")
    assert after.exit_code == 1 and after.stderr.startswith("error no_analysis:")
    assert api.get("/v1/scale").json()["state"] == "ready"
    assert cli(api, "results", warm_run["run"]["run_id"]).exit_code == 0  # runs stay


def test_wait_past_its_timeout_exits_4(api: ApiServer, warm_run: dict[str, Any]) -> None:
    result = cli(api, "warmup", "-s", "ec2", "-r", "2", "--wait", "--timeout", "0")
    assert result.exit_code == 4
    assert result.stderr.splitlines()[-1].startswith("error timeout: the scale was not ready")


def test_terminate_waits_with_progress_until_every_worker_has_stopped(
    api: ApiServer, warm_run: dict[str, Any]
) -> None:
    cli(api, "status", "--wait", "--timeout", "30")  # the ec2 warm-up of the test before
    result = cli(api, "terminate", "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("terminated: every resource has stopped")
    assert "resources stopped" in result.stderr
    assert api.workers() == []
    answer = cli(api, "terminate", "--no-wait", "--json")
    assert answer.exit_code == 0 and as_json(answer)["state"] == "cold"
