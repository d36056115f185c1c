"""Settings: defaults, environment variables, bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from signalrisk.core.config import Settings


def test_read_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIGNALRISK_HOME", "rel/home")
    monkeypatch.setenv("SIGNALRISK_PRICES__EC2_HOURLY", "0.02")
    monkeypatch.setenv("SIGNALRISK_LIMITS__MAX_R_EC2", "7")
    settings = Settings()
    assert settings.home == (tmp_path / "rel" / "home").resolve()
    assert settings.home.is_absolute()
    assert settings.prices.ec2_hourly == 0.02
    assert settings.limits.max_r("ec2") == 7
    assert settings.sqlalchemy_url == f"sqlite:///{settings.home / 'signalrisk.db'}"


def test_refuse_settings_out_of_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALRISK_LIMITS__MAX_D", "0")
    with pytest.raises(ValidationError, match="max_d"):
        Settings()


def test_default_settings_admit_largest_job() -> None:
    limits = Settings().limits
    assert limits.max_work >= 500 * 10_000_000 * 32
    assert limits.max_d >= 10_000_000
    assert limits.max_r("lambda") >= 32 and limits.max_r("ec2") >= 32
