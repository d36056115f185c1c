"""PriceSeries and the SPEC §3 default window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest

from signalrisk.quant.prices import PriceSeries, default_window, to_date


def _series(days: list[str]) -> PriceSeries:
    n = len(days)
    values = np.arange(1.0, n + 1.0)
    return PriceSeries("TEST", np.array(days, dtype="datetime64[D]"), values, values + 0.5)


SERIES = _series(["2024-01-02", "2024-01-03", "2024-01-05", "2024-01-08", "2024-01-09"])


def test_window_series_includes_both_ends() -> None:
    window = SERIES.window(date(2024, 1, 3), date(2024, 1, 8))
    assert [str(d) for d in window.dates] == ["2024-01-03", "2024-01-05", "2024-01-08"]
    assert window.open.tolist() == [2.0, 3.0, 4.0]
    assert window.close.tolist() == [2.5, 3.5, 4.5]


def test_window_series_snaps_to_trading_days_inside_bounds() -> None:
    window = SERIES.window(date(2024, 1, 4), date(2024, 1, 7))
    assert [str(d) for d in window.dates] == ["2024-01-05"]


def test_window_series_empty_when_outside_data() -> None:
    assert len(SERIES.window(date(2023, 1, 1), date(2023, 12, 31))) == 0
    assert len(SERIES.window(date(2024, 1, 9), date(2024, 1, 2))) == 0


def test_default_window_ends_on_last_date_and_spans_1094_days() -> None:
    start, end = default_window(SERIES)
    assert end == date(2024, 1, 9)
    assert start == date(2024, 1, 9) - timedelta(days=1094)


def test_create_series_raises_when_dates_not_ascending() -> None:
    with pytest.raises(ValueError, match="ascending"):
        _series(["2024-01-03", "2024-01-02"])
    with pytest.raises(ValueError, match="ascending"):
        _series(["2024-01-03", "2024-01-03"])


def test_create_series_raises_when_lengths_differ() -> None:
    with pytest.raises(ValueError, match="same length"):
        PriceSeries("X", np.array(["2024-01-02"], dtype="datetime64[D]"), np.ones(2), np.ones(1))


def test_to_date_converts_datetime64() -> None:
    assert to_date(np.datetime64("2025-02-11", "D")) == date(2025, 2, 11)


@pytest.mark.parametrize("ticker", ["NVDA", "AAPL"])
def test_window_bundled_default_spans_at_most_1095_days(
    load_series: Callable[[str], PriceSeries], ticker: str
) -> None:
    series = load_series(ticker)
    start, end = default_window(series)
    window = series.window(start, end)
    assert window.last_date == series.last_date
    assert window.first_date >= start
    # The first row of the window is the first trading day on or after start.
    before = series.dates[series.dates < np.datetime64(start, "D")]
    assert before.size > 0
    assert to_date(before[-1]) < start
    assert (window.last_date - window.first_date).days <= 1094
    assert 740 <= len(window) <= 760
