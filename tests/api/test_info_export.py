"""/v1/info (what the dashboard and CLI fill their forms from) and a run's CSV export."""

from __future__ import annotations

import csv
import io

from signalrisk.sources.bundled import BundledSource
from tests.server import ApiServer


def test_info_lists_services_limits_and_every_bundled_ticker(api: ApiServer) -> None:
    info = api.get("/v1/info").json()
    assert info["platform"] == "local"
    assert info["services"]["lambda"]["max_r"] == info["limits"]["max_r_lambda"]
    assert info["services"]["ec2"]["max_r"] == info["limits"]["max_r_ec2"]
    bundled = BundledSource()
    assert [t["ticker"] for t in info["tickers"]] == bundled.tickers()
    nvda = next(t for t in info["tickers"] if t["ticker"] == "NVDA")
    series = bundled.load("NVDA")
    assert (nvda["first"], nvda["last"]) == (
        series.first_date.isoformat(),
        series.last_date.isoformat(),
    )
    assert nvda["default_start"] == "2022-02-13"  # last (2025-02-11) - 1094 days
    assert info["prices"]["lambda_memory_mb"] > 0


def test_csv_export_has_one_row_per_signal_equal_to_the_json(api: ApiServer) -> None:
    api.warm("lambda", 2)
    try:
        assert api.post("/analyse", {"h": 101, "d": 2000, "t": "sell", "p": 7}).status_code == 200
        run = api.get("/v1/runs/last").json()
        response = api.get(f"/v1/runs/{run['run_id']}/signals.csv")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert run["run_id"] in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == run["signals"] == 36
        for row, item in zip(rows, run["items"], strict=True):
            assert row["date"] == item["date"]
            assert float(row["var95"]) == item["var95"]
            assert float(row["var99"]) == item["var99"]
            assert float(row["se95"]) == item["se95"]
            pl = item["profit_loss"]
            assert (row["profit_loss"] == "") if pl is None else (float(row["profit_loss"]) == pl)
    finally:
        api.terminate()


def test_csv_export_of_an_unknown_run_is_404_in_the_error_shape(api: ApiServer) -> None:
    response = api.get("/v1/runs/0000000000000000/signals.csv")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
