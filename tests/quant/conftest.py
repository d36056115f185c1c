"""Shared fixtures of the quant tests: the bundled price windows, loaded once per session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from signalrisk.quant.prices import PriceSeries, default_window
from signalrisk.sources.bundled import BundledSource


@pytest.fixture(scope="session")
def load_series() -> Callable[[str], PriceSeries]:
    """The whole bundled history of a ticker."""
    source = BundledSource()
    cache: dict[str, PriceSeries] = {}

    def load(ticker: str) -> PriceSeries:
        if ticker not in cache:
            cache[ticker] = source.load(ticker)
        return cache[ticker]

    return load


@pytest.fixture(scope="session")
def load_window(load_series: Callable[[str], PriceSeries]) -> Callable[[str], PriceSeries]:
    """The SPEC §3 default window of a bundled ticker (last date - 1094 days .. last date)."""
    cache: dict[str, PriceSeries] = {}

    def load(ticker: str) -> PriceSeries:
        if ticker not in cache:
            series = load_series(ticker)
            cache[ticker] = series.window(*default_window(series))
        return cache[ticker]

    return load
