"""The App Engine artefacts: app.yaml parses and names a real entry point; App Engine settings."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from signalrisk.core.config import Settings, get_settings

APPENGINE = Path(__file__).parents[2] / "deploy" / "appengine"


def test_parse_app_yaml_runs_main_app_under_gunicorn() -> None:
    config = yaml.safe_load((APPENGINE / "app.yaml").read_text())
    assert config["runtime"] == "python311"
    assert "uvicorn.workers.UvicornWorker" in config["entrypoint"]
    assert config["entrypoint"].endswith("main:app")
    assert config["env_variables"]["SIGNALRISK_PLATFORM"] == "aws"
    assert "env.yaml" in config["includes"]
    example = yaml.safe_load((APPENGINE / "env.yaml.example").read_text())
    assert example["env_variables"]["SIGNALRISK_DATABASE_URL"].startswith("postgresql")


def test_refuse_app_engine_without_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAE_ENV", "standard")
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings()


def test_app_engine_settings_poll_instead_of_background_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAE_ENV", "standard")
    monkeypatch.setenv("SIGNALRISK_DATABASE_URL", "postgresql+psycopg://u:p@db/signalrisk")
    settings = Settings()
    assert settings.background_driver is False
    get_settings.cache_clear()
    try:
        app = runpy.run_path(str(APPENGINE / "main.py"))["app"]
    finally:
        get_settings.cache_clear()
    paths = set(app.openapi()["paths"])
    assert paths >= {"/warmup", "/analyse", "/health"}
