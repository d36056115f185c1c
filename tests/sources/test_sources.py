"""Price sources: the bundled sample, a user's CSV file or directory, and the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signalrisk.core.config import Settings
from signalrisk.core.errors import InternalError, InvalidParameter, UnknownTicker
from signalrisk.sources.bundled import BundledSource
from signalrisk.sources.csvfile import CsvDirectorySource, normalise_ticker
from signalrisk.sources.registry import price_source

CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-03,10.0,11,9,10.5,10.5,100
2024-01-02,9.0,10,8,9.5,9.5,100
2024-01-04,,,,,,
2024-01-05,10.5,12,10,11.5,11.5,100
"""


def test_load_bundled_prices_for_every_shipped_ticker() -> None:
    source = BundledSource()
    assert source.tickers() == ["AAPL", "GOOG", "MSFT", "NVDA", "QQQ", "SPY"]
    nvda = source.load("nvda")
    assert len(nvda) == 6555
    assert str(nvda.dates[-1]) == "2025-02-11"
    assert nvda.close[-1] == pytest.approx(132.8000030517578)


def test_load_unknown_ticker_lists_known_ones() -> None:
    with pytest.raises(UnknownTicker, match="NVDA") as info:
        BundledSource().load("ZZZZ")
    assert info.value.field == "ticker"


@pytest.mark.parametrize("bad", ["../etc/passwd", "", "A" * 16, "NV DA", "x/y"])
def test_normalise_ticker_rejects_non_symbols(bad: str) -> None:
    with pytest.raises(InvalidParameter):
        normalise_ticker(bad)


def test_load_csv_file_sorts_dates_and_skips_blank_rows(tmp_path: Path) -> None:
    file = tmp_path / "mine.csv"
    file.write_text(CSV)
    series = CsvDirectorySource(file).load("MINE")
    assert [str(d) for d in series.dates] == ["2024-01-02", "2024-01-03", "2024-01-05"]
    np.testing.assert_array_equal(series.open, [9.0, 10.0, 10.5])
    np.testing.assert_array_equal(series.close, [9.5, 10.5, 11.5])


def test_load_csv_directory_reads_edited_file_again(tmp_path: Path) -> None:
    (tmp_path / "ABC.csv").write_text(CSV)
    source = CsvDirectorySource(tmp_path)
    assert len(source.load("ABC")) == 3
    (tmp_path / "ABC.csv").write_text(CSV + "2024-01-08,11.5,12,11,12.0,12.0,100\n")
    assert len(source.load("ABC")) == 4


def test_build_price_source_from_settings(tmp_path: Path) -> None:
    assert price_source(Settings(home=tmp_path)).name == "bundled"
    csv_source = price_source(Settings(home=tmp_path, price_source="csv", csv_path=tmp_path))
    assert csv_source.name == "csv"
    with pytest.raises(InternalError, match="SIGNALRISK_CSV_PATH"):
        price_source(Settings(home=tmp_path, price_source="csv"))
