"""Three White Soldiers (buy) and Three Black Crows (sell): SPEC §3, by hand and on real data."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from signalrisk.quant.prices import PriceSeries
from signalrisk.quant.signals import BODY, Side, detect_signals

Candle = tuple[float, float]  # (open, close)


def _arrays(candles: Sequence[Candle]) -> tuple[np.ndarray, np.ndarray]:
    open_ = np.array([c[0] for c in candles], dtype=np.float64)
    close = np.array([c[1] for c in candles], dtype=np.float64)
    return open_, close


def _detect(candles: Sequence[Candle], side: Side, **kwargs: float) -> list[int]:
    open_, close = _arrays(candles)
    found = detect_signals(open_, close, side, **kwargs)
    assert found.dtype == np.int64
    return found.tolist()


# A clear run of each kind; the filler candle is a doji that can start no pattern.
SOLDIERS: list[Candle] = [(10.0, 10.5), (10.6, 11.2), (11.3, 12.0)]
CROWS: list[Candle] = [(12.0, 11.5), (11.4, 10.8), (10.7, 10.0)]
DOJI: Candle = (20.0, 20.0)


def test_detect_signals_buy_fires_at_third_candle_of_three_white_soldiers() -> None:
    assert _detect(SOLDIERS, "buy") == [2]
    assert _detect([DOJI, DOJI, *SOLDIERS, DOJI], "buy") == [4]


def test_detect_signals_sell_fires_at_third_candle_of_three_black_crows() -> None:
    assert _detect(CROWS, "sell") == [2]
    assert _detect([DOJI, *CROWS, DOJI, DOJI], "sell") == [3]


def test_detect_signals_opposite_side_silent_on_clear_run() -> None:
    assert _detect(SOLDIERS, "sell") == []
    assert _detect(CROWS, "buy") == []


@pytest.mark.parametrize("short", [0, 1, 2])
def test_detect_signals_buy_silent_when_one_body_is_0_009(short: int) -> None:
    candles = list(SOLDIERS)
    _, close = candles[short]
    candles[short] = (close - 0.009, close)  # same closes, so the rising trend is intact
    assert _detect(candles, "buy") == []


@pytest.mark.parametrize("short", [0, 1, 2])
def test_detect_signals_sell_silent_when_one_body_is_0_009(short: int) -> None:
    candles = list(CROWS)
    _, close = candles[short]
    candles[short] = (close + 0.009, close)
    assert _detect(candles, "sell") == []


def test_detect_signals_buy_fires_when_bodies_are_exactly_0_01() -> None:
    # Opens chosen so that the float difference close - open is exactly BODY (checked below).
    opens = [0.002, 0.004, 0.006]
    candles = [(o, o + BODY) for o in opens]
    assert all(c - o == BODY for o, c in candles)
    assert _detect(candles, "buy") == [2]


def test_detect_signals_sell_fires_when_bodies_are_exactly_0_01() -> None:
    closes = [0.006, 0.004, 0.002]
    candles = [(c + BODY, c) for c in closes]
    assert all(o - c == BODY for o, c in candles)
    assert _detect(candles, "sell") == [2]


def test_detect_signals_boundary_body_inclusive_with_dyadic_prices() -> None:
    # Exactly representable values: body >= threshold fires, a hair less does not.
    exact = [(10.0, 10.25), (11.0, 11.25), (12.0, 12.25)]
    assert _detect(exact, "buy", body=0.25) == [2]
    short = [(10.0, 10.25), (11.0, 11.25), (12.0, 12.25 - 2.0**-40)]
    assert _detect(short, "buy", body=0.25) == []


@pytest.mark.parametrize("equal_pair", [(0, 1), (1, 2)])
def test_detect_signals_buy_silent_when_closes_equal(equal_pair: tuple[int, int]) -> None:
    closes = [10.5, 11.2, 12.0]
    a, b = equal_pair
    closes[b] = closes[a]
    candles = [(c - 0.3, c) for c in closes]
    assert _detect(candles, "buy") == []


@pytest.mark.parametrize("equal_pair", [(0, 1), (1, 2)])
def test_detect_signals_sell_silent_when_closes_equal(equal_pair: tuple[int, int]) -> None:
    closes = [12.0, 11.2, 10.5]
    a, b = equal_pair
    closes[b] = closes[a]
    candles = [(c + 0.3, c) for c in closes]
    assert _detect(candles, "sell") == []


def test_detect_signals_buy_silent_when_closes_fall_despite_white_candles() -> None:
    # Three white candles, each opening below the previous close: no rising closes.
    candles = [(12.0, 12.5), (11.0, 11.5), (10.0, 10.5)]
    assert _detect(candles, "buy") == []


def test_detect_signals_buy_silent_when_middle_candle_black() -> None:
    candles = [(10.0, 10.5), (11.5, 11.2), (11.3, 12.0)]  # rising closes, black middle
    assert _detect(candles, "buy") == []


def test_detect_signals_buy_fires_on_consecutive_days_for_four_candle_run() -> None:
    run = [(10.0, 10.5), (10.6, 11.2), (11.3, 12.0), (12.1, 12.9)]
    assert _detect(run, "buy") == [2, 3]
    assert _detect([DOJI, *run, DOJI], "buy") == [3, 4]


def test_detect_signals_sell_fires_on_consecutive_days_for_four_candle_run() -> None:
    run = [(12.0, 11.5), (11.4, 10.8), (10.7, 10.0), (9.9, 9.1)]
    assert _detect(run, "sell") == [2, 3]


def test_detect_signals_fires_again_after_a_break() -> None:
    candles = [*SOLDIERS, DOJI, *SOLDIERS]
    assert _detect(candles, "buy") == [2, 6]


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("rows", [0, 1, 2])
def test_detect_signals_returns_nothing_when_fewer_than_three_rows(side: Side, rows: int) -> None:
    strong = SOLDIERS if side == "buy" else CROWS
    assert _detect(strong[:rows], side) == []


# ---------------------------------------------------------------------------------------------
# Independent computations on the bundled data.


def _plain_signals(open_: np.ndarray, close: np.ndarray, side: Side) -> list[int]:
    """SPEC §3 read literally, one row at a time."""
    found = []
    for i in range(2, len(close)):
        days = (i - 2, i - 1, i)
        if side == "buy":
            candles = all(float(close[j]) - float(open_[j]) >= 0.01 for j in days)
            trend = close[i] > close[i - 1] > close[i - 2]
        else:
            candles = all(float(open_[j]) - float(close[j]) >= 0.01 for j in days)
            trend = close[i] < close[i - 1] < close[i - 2]
        if candles and trend:
            found.append(i)
    return found


def _pandas_signals(open_: np.ndarray, close: np.ndarray, side: Side) -> list[int]:
    frame = pd.DataFrame({"Open": open_, "Close": close})
    sign = 1.0 if side == "buy" else -1.0
    body = sign * (frame["Close"] - frame["Open"]) >= 0.01
    move = sign * frame["Close"].diff() > 0
    hit = body & body.shift(1, fill_value=False) & body.shift(2, fill_value=False)
    hit &= move & move.shift(1, fill_value=False)
    return [int(i) for i in np.flatnonzero(hit.to_numpy())]


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("ticker", ["NVDA", "AAPL", "MSFT", "GOOG", "SPY", "QQQ"])
def test_detect_signals_default_window_matches_plain_loop(
    load_window: Callable[[str], PriceSeries], ticker: str, side: Side
) -> None:
    window = load_window(ticker)
    expected = _plain_signals(window.open, window.close, side)
    got = detect_signals(window.open, window.close, side)
    assert len(expected) >= 5, "too few signals for the comparison to mean anything"
    assert got.tolist() == expected
    assert _pandas_signals(window.open, window.close, side) == expected


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_detect_signals_full_nvda_history_matches_plain_loop(
    load_series: Callable[[str], PriceSeries], side: Side
) -> None:
    series = load_series("NVDA")
    got = detect_signals(series.open, series.close, side)
    assert got.tolist() == _plain_signals(series.open, series.close, side)


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("ticker", ["NVDA", "AAPL"])
def test_detect_signals_window_ignores_candles_before_start(
    load_series: Callable[[str], PriceSeries],
    load_window: Callable[[str], PriceSeries],
    ticker: str,
    side: Side,
) -> None:
    series, window = load_series(ticker), load_window(ticker)
    lo = int(np.searchsorted(series.dates, window.dates[0]))
    full = detect_signals(series.open, series.close, side)
    inside = full[(full >= lo + 2) & (full < lo + len(window))] - lo
    assert_array_equal(detect_signals(window.open, window.close, side), inside)
