"""Beyond loopback the dashboard asks for the token, keeps it for the tab, and shows refusals.

The server is on 127.0.0.1 (tests bind nothing else) with ``SIGNALRISK_TRUST_LOOPBACK=false``,
the setting for a reverse proxy on the same host: every caller then needs a token, exactly as
callers from another machine do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import open_dashboard
from tests.server import ApiServer

TOKEN = "full-token-for-the-browser-test"
READ_TOKEN = "read-only-token-for-the-browser-test"


@pytest.fixture(scope="module")
def guarded_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(
        Path(tmp_path_factory.mktemp("guarded")),
        env={
            "SIGNALRISK_TRUST_LOOPBACK": "false",
            "SIGNALRISK_TOKEN": TOKEN,
            "SIGNALRISK_READ_TOKEN": READ_TOKEN,
        },
    )
    server.start()
    yield server
    server.stop()


def give_token(page: Page, token: str) -> None:
    page.locator("#token-dialog").wait_for(state="visible")
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")


def test_token_is_asked_for_refused_when_wrong_and_kept_for_the_tab(
    page: Page, guarded_api: ApiServer
) -> None:
    assert guarded_api.get("/v1/info").status_code == 401  # the server really demands it
    page.goto(f"{guarded_api.url}/")
    give_token(page, "not-the-token")
    page.locator("#token-dialog").wait_for(state="visible")
    assert "refused" in page.inner_text("#token-hint")
    give_token(page, TOKEN)
    page.wait_for_selector("body[data-ready=true]")
    assert "signed in with a token" in page.inner_text("#meta")
    assert page.evaluate("sessionStorage.getItem('signalrisk-token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0  # never kept beyond the tab
    page.reload()
    page.wait_for_selector("body[data-ready=true]")  # no second prompt in the same tab
    assert page.locator("#token-dialog").is_hidden()


def test_read_only_token_reads_but_may_not_warm_up(page: Page, guarded_api: ApiServer) -> None:
    page.goto(f"{guarded_api.url}/")
    give_token(page, READ_TOKEN)
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#ticker option").count() > 0  # /v1/info was read
    page.click("#warmup")
    page.locator("#error").wait_for(state="visible")
    assert page.get_attribute("#error", "data-code") == "forbidden"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded_api.get("/v1/scale", headers=headers).json()["state"] == "cold"


def test_a_new_session_asks_again(page: Page, browser: Browser, guarded_api: ApiServer) -> None:
    page.goto(f"{guarded_api.url}/")
    give_token(page, TOKEN)
    page.wait_for_selector("body[data-ready=true]")
    other = browser.new_context().new_page()
    try:
        other.goto(f"{guarded_api.url}/")
        other.locator("#token-dialog").wait_for(state="visible")
    finally:
        other.context.close()


def test_loopback_needs_no_token_by_default(page: Page, dashboard_api: ApiServer) -> None:
    open_dashboard(page, dashboard_api.url)
    assert page.locator("#token-dialog").is_hidden()
