"""The dashboard clicked through in a real headless Chromium, checked against the /v1 JSON."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import Page

from tests.browser.conftest import ARTIFACTS, open_dashboard
from tests.server import ApiServer


def fmt(value: float | None, digits: int) -> str:
    """The dashboard's number format (app.js ``num``)."""
    return "–" if value is None else f"{value:.{digits}f}"


def audit_rows(page: Page) -> int:
    return page.locator("#audit tbody tr").count()


def analyse_in_page(page: Page, **fields: str) -> None:
    """Fill the analysis form, click Analyse and wait until the new run is shown."""
    for name, value in fields.items():
        if page.locator(f"select#{name}").count():
            page.select_option(f"#{name}", value)
        else:
            page.fill(f"#{name}", value)
    before = page.locator("#run-id").text_content()
    page.click("#analyse")
    page.wait_for_function(
        "previous => { const r = document.getElementById('run-id');"
        " return !document.getElementById('results-card').hidden && r.textContent !== previous; }",
        arg=before,
    )
    page.wait_for_selector("#analyse:not([disabled])")


def test_analyse_before_warmup_shows_the_apis_error(page: Page, dashboard_api: ApiServer) -> None:
    open_dashboard(page, dashboard_api.url)
    expected = dashboard_api.post("/analyse", {"h": 101, "d": 10000, "t": "sell", "p": 7}).json()
    page.click("#analyse")
    box = page.locator("#error")
    box.wait_for(state="visible")
    assert box.get_attribute("data-code") == expected["error"]["code"] == "not_warm"
    assert expected["error"]["message"] in box.inner_text()
    assert page.locator("#results-card").is_hidden()


def test_bad_parameter_is_shown_and_its_field_marked(page: Page, dashboard_api: ApiServer) -> None:
    open_dashboard(page, dashboard_api.url)
    page.fill("#h", "2")  # below the form's min: the browser itself refuses to submit
    page.click("#analyse")
    assert page.locator("#error").is_hidden()
    page.evaluate("document.getElementById('h').removeAttribute('min')")
    page.click("#analyse")  # the API validates before it looks at the scale
    page.locator("#error").wait_for(state="visible")
    assert page.get_attribute("#error", "data-code") == "invalid_parameter"
    assert "field h" in page.inner_text("#error")
    assert page.get_attribute("#h", "aria-invalid") == "true"


def test_whole_workflow_matches_the_api(page: Page, dashboard_api: ApiServer) -> None:
    api = dashboard_api
    open_dashboard(page, api.url)
    assert audit_rows(page) == 0

    # 1. warm up lambda, r=2: readiness goes live, the warm-up cost appears.
    page.select_option("#service", "lambda")
    page.fill("#r", "2")
    page.click("#warmup")
    page.wait_for_selector("#state[data-state=ready]")
    assert page.inner_text("#ready-count") == "2/2 resources ready"
    scale = api.get("/v1/scale").json()
    assert scale["state"] == "ready" and scale["r"] == 2
    assert page.inner_text("#warmup-cost").startswith(f"{scale['warmup']['billable_s']:.3f} s")

    # 2. analyse: the table, totals and chart are those of the run in /v1.
    analyse_in_page(page, d="2000", seed="7", t="sell", h="101", p="7")
    run = api.get("/v1/runs/last").json()
    assert run["request"]["seed"] == 7 and run["request"]["d"] == 2000
    assert run["run_id"] in page.inner_text("#run-id")
    rows = page.locator("#signals tbody tr")
    assert rows.count() == len(run["items"]) == 36
    cells = page.eval_on_selector_all(
        "#signals tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => [c.textContent, c.dataset.value ?? null]))",
    )
    for row, item in zip(cells, run["items"], strict=True):
        _, date, var95, se95, var99, se99, pl = row
        assert date == [item["date"], item["date"]]
        assert var95 == [fmt(item["var95"], 5), repr(item["var95"])]
        assert float(var95[1]) == item["var95"]  # the full value, not only the rounded text
        assert se95[0] == fmt(item["se95"], 6)
        assert var99 == [fmt(item["var99"], 5), repr(item["var99"])]
        assert se99[0] == fmt(item["se99"], 6)
        assert pl[0] == fmt(item["profit_loss"], 4)
    assert page.inner_text("#sum-av95") == fmt(run["av95"], 5)
    assert page.inner_text("#sum-av99") == fmt(run["av99"], 5)
    assert page.inner_text("#sum-total-pl") == fmt(run["total_profit_loss"], 4)
    assert "list prices" in page.inner_text("#cost-basis")  # what the estimate assumes

    # 3. the PNG has loaded, and hovering a point shows that signal's date and values.
    page.wait_for_function("document.getElementById('chart-img').naturalWidth > 0")
    assert page.eval_on_selector("#chart-img", "img => img.naturalWidth") > 0
    for index in (0, 17, 35):
        item = run["items"][index]
        page.hover(f"circle[data-index='{index}'][data-series='var99']")
        tooltip = page.locator("#tooltip")
        tooltip.wait_for(state="visible")
        text = tooltip.inner_text()
        assert item["date"] in text
        assert fmt(item["var95"], 5) in text and fmt(item["var99"], 5) in text
        assert fmt(item["profit_loss"], 4) in text
        assert (
            page.locator(f"#signals tbody tr[data-index='{index}']").get_attribute("class")
            == "hover"
        )
    page.mouse.move(5, 5)
    page.locator("#tooltip").wait_for(state="hidden")

    # 4. the audit table grows by one row per analysis, newest first.
    page.wait_for_function("document.querySelectorAll('#audit tbody tr').length === 1")
    analyse_in_page(page, t="buy", seed="8")
    page.wait_for_function("document.querySelectorAll('#audit tbody tr').length === 2")
    newest = api.get("/v1/runs/last").json()
    assert newest["request"]["t"] == "buy"
    assert page.get_attribute("#audit tbody tr:first-child", "data-run-id") == newest["run_id"]
    assert api.get("/v1/audit").json()["total"] == 2

    # 5. the CSV download is the run's CSV.
    with page.expect_download() as download:
        page.click("#download")
    downloaded = download.value.path().read_text()
    assert downloaded == api.get(f"/v1/runs/{newest['run_id']}/signals.csv").text
    assert len(list(csv.DictReader(io.StringIO(downloaded)))) == newest["signals"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.hover("circle[data-index='3'][data-series='var95']")
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # 6. reset clears the results (the scale stays), terminate scales down with live state.
    page.click("#reset")
    page.locator("#results-card").wait_for(state="hidden")
    assert api.get("/get_sig_vars9599").status_code == 409
    assert api.get("/scaled_ready").json()["warm"] == "true"
    page.click("#terminate")
    page.wait_for_selector("#state[data-state=cold]")
    assert api.get("/scaled_terminated").json()["terminated"] == "true"


def test_page_loads_the_last_run_on_open(page: Page, dashboard_api: ApiServer) -> None:
    api = dashboard_api
    api.warm("ec2", 2)
    try:
        assert api.post("/analyse", {"h": 50, "d": 1000, "t": "buy", "p": 5}).status_code == 200
        run = api.get("/v1/runs/last").json()
        open_dashboard(page, api.url)
        assert run["run_id"] in page.inner_text("#run-id")
        assert page.locator("#signals tbody tr").count() == run["signals"]
        assert page.input_value("#service") == "ec2" and page.input_value("#r") == "2"
    finally:
        api.terminate()
