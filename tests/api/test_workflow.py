"""The source system's whole client sequence over HTTP, for lambda then ec2 (SPEC §2, §3).

Numbers are sent as strings and readiness is polled, as the original test client does.
"""

from __future__ import annotations

import math
import shlex
import subprocess

import httpx
import pytest

from signalrisk.quant import accuracy
from signalrisk.seedclient import RESULTS
from tests.server import ApiServer

STANDARD = {"h": "101", "d": "10000", "t": "sell", "p": "7"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_seed_client(api: ApiServer, service: str) -> dict[str, object]:
    """What the original test client does, returning every answer."""
    out: dict[str, object] = {}
    assert api.post("/warmup", {"s": service, "r": "3"}).json() == {
        **api.post("/warmup", {"s": service, "r": "3"}).json(),
        "result": "ok",
    }
    api.wait_for("/scaled_ready", "warm")
    for path in ("/get_warmup_cost", "/get_endpoints"):
        response = api.get(path)
        assert response.status_code == 200, response.text
        out[path] = response.json()
    response = api.post("/analyse", STANDARD)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "ok"
    for path in RESULTS:
        response = api.get(path)
        assert response.status_code == 200, (path, response.text)
        out[path] = response.json()
    out["/v1/runs/last"] = api.get("/v1/runs/last").json()
    out["/v1/scale"] = api.get("/v1/scale").json()
    assert api.get("/reset").json()["result"] == "ok"
    assert api.get("/terminate").json()["result"] == "ok"
    api.wait_for("/scaled_terminated", "terminated")
    return out


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_run_seed_workflow_matches_reference_figures(api: ApiServer, service: str) -> None:
    answers = run_seed_client(api, service)
    sig = answers["/get_sig_vars9599"]
    assert isinstance(sig, dict)
    assert len(sig["var95"]) == len(sig["var99"]) == 36
    pl = answers["/get_sig_profit_loss"]["profit_loss"]  # type: ignore[index]
    assert len(pl) == 36 and None not in pl
    assert round(answers["/get_tot_profit_loss"]["profit_loss"], 3) == -39.763  # type: ignore[index]
    detail = answers["/v1/runs/last"]
    items = detail["items"]  # type: ignore[index]
    assert items[0]["date"] == "2022-08-30" and items[-1]["date"] == "2025-01-10"
    for item in items:
        for level, key in ((95, "var95"), (99, "var99")):
            truth = accuracy.analytic_var(item["mean"], item["std"], level)
            tolerance = 6 * accuracy.standard_error(item["std"], 10000, 3, level) + abs(
                accuracy.bias(item["std"], 10000, level)
            )
            assert abs(item[key] - truth) <= tolerance
    # The spread of the r estimates agrees with the formula's standard error (72 degrees of
    # freedom over 36 signals: the RMS ratio is 1 within about 0.08; 0.6..1.4 is 5 sigma).
    for level in (95, 99):
        spread = sum(i[f"spread{level}"] ** 2 for i in items) ** 0.5
        formula = sum(i[f"se{level}"] ** 2 for i in items) ** 0.5
        assert 0.6 < spread / formula < 1.4
        assert all(abs(i[f"bias{level}"]) < i[f"se{level}"] for i in items)
    avg = answers["/get_avg_vars9599"]
    assert math.isclose(avg["var95"], sum(sig["var95"]) / 36)  # type: ignore[index]
    assert math.isclose(avg["var99"], sum(sig["var99"]) / 36)  # type: ignore[index]
    chart = httpx.get(answers["/get_chart_url"]["url"], timeout=30)  # type: ignore[index]
    assert chart.status_code == 200 and chart.content.startswith(PNG_MAGIC)
    cost = answers["/get_time_cost"]
    assert cost["time"] > 0 and cost["cost"] > 0  # type: ignore[index]
    warm = answers["/get_warmup_cost"]
    assert warm["billable_time"] > 0 and warm["cost"] > 0  # type: ignore[index]
    assert warm["basis"] == "local-simulated" and warm["estimate"] is True  # type: ignore[index]
    to_date = answers["/v1/scale"]["cost_to_date"]  # type: ignore[index]
    assert to_date["basis"] == "local-simulated"
    assert to_date["usd"] >= warm["cost"] > 0  # type: ignore[index]
    audit = answers["/get_audit"]
    assert isinstance(audit, list) and audit[-1]["s"] == service and audit[-1]["r"] == 3
    assert audit[-1]["signals"] == 36 and audit[-1]["status"] == "ok"


@pytest.mark.parametrize("service", ["lambda", "ec2"])
def test_invoke_endpoint_curl_string_works(api: ApiServer, service: str) -> None:
    api.warm(service, 2)
    endpoints = api.get("/get_endpoints").json()
    assert len(endpoints) == (1 if service == "lambda" else 2)
    for url, command in endpoints.items():
        assert url in command
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
        answer = httpx.Response(200, content=done.stdout).json()
        assert answer["var95"] > answer["var99"], done.stdout
    api.terminate()


def test_same_seed_gives_same_numbers_on_both_services(api: ApiServer) -> None:
    results = {}
    for service in ("lambda", "ec2"):
        api.warm(service, 3)
        assert api.post("/analyse", {**STANDARD, "seed": "12345"}).status_code == 200
        results[service] = api.get("/get_sig_vars9599").json()
    api.terminate()
    assert results["lambda"] == results["ec2"]


def test_analyse_runs_batches_in_parallel_processes(api: ApiServer) -> None:
    api.warm("ec2", 3)
    assert api.post("/analyse", {**STANDARD, "d": "3000000"}).status_code == 200
    batches = api.get("/v1/runs/last").json()["batches"]
    api.terminate()
    assert len({b["pid"] for b in batches}) == 3
    assert len({b["resource_id"] for b in batches}) == 3
    # Every batch started before any finished: their work overlapped in time.
    assert max(b["started"] for b in batches) < min(b["finished"] for b in batches)
