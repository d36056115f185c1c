"""A real headless Chromium (Debian's ``chromium``) driven by Playwright, and a server for it.

Playwright never downloads a browser here: it launches the system's chromium by path. The
Makefile's ``browser`` target installs it (``apt-get install chromium``) when it is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.server import ApiServer

CHROMIUM_FLAGS = [
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("SIGNALRISK_TEST_ARTIFACTS", "test-artifacts")).resolve()


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: run `make browser` (apt-get install -y chromium)")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab; the test fails if the page's script threw."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    script_errors: list[str] = []
    tab.on("pageerror", lambda error: script_errors.append(str(error)))
    yield tab
    context.close()
    assert not script_errors, f"the dashboard's script threw: {script_errors}"


@pytest.fixture(scope="module")
def dashboard_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(Path(tmp_path_factory.mktemp("dashboard")))
    server.start()
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


def open_dashboard(page: Page, url: str) -> None:
    page.goto(f"{url}/")
    page.wait_for_selector("body[data-ready=true]")
