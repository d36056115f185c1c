"""The sample data shipped with the package: real Yahoo Finance daily bars (data/SOURCES.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from signalrisk.sources.csvfile import CsvDirectorySource


def bundled_data_dir() -> Path:
    """The directory holding the bundled ``<TICKER>.csv`` files."""
    return Path(str(resources.files("signalrisk") / "data"))


class BundledSource(CsvDirectorySource):
    """NVDA, AAPL, GOOG, MSFT, SPY and QQQ, bundled as package data."""

    name = "bundled"

    def __init__(self) -> None:
        super().__init__(bundled_data_dir())
