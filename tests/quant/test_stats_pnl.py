"""Return statistics before each signal and profit/loss after it (SPEC §3)."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from signalrisk.quant.pnl import mean_or_none, profit_loss, total_profit_loss
from signalrisk.quant.prices import PriceSeries
from signalrisk.quant.signals import Side, detect_signals
from signalrisk.quant.stats import window_stats


def _positions(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _plain_stats(close: np.ndarray, i: int, h: int) -> tuple[float, float]:
    """SPEC §3: the closes at positions i-h..i-1 give h-1 simple returns; mean and sample std."""
    closes = [float(close[j]) for j in range(i - h, i)]
    returns = [later / earlier - 1.0 for earlier, later in itertools.pairwise(closes)]
    assert len(returns) == h - 1
    return statistics.mean(returns), statistics.stdev(returns)


# ---------------------------------------------------------------------------------------------
# window_stats


def test_compute_window_stats_h3_by_hand() -> None:
    close = np.array([100.0, 110.0, 99.0, 200.0, 50.0])
    stats = window_stats(close, _positions([3]), 3)
    # Closes 100, 110, 99: returns +0.1 and -0.1.
    assert stats.mean[0] == pytest.approx(0.0, abs=1e-15)
    assert stats.std[0] == pytest.approx(math.sqrt(0.02), rel=1e-12)


def test_compute_window_stats_h4_by_hand() -> None:
    close = np.array([100.0, 102.0, 102.0, 96.9, 1.0])
    stats = window_stats(close, _positions([4]), 4)
    returns = [0.02, 0.0, -0.05]
    assert stats.mean[0] == pytest.approx(statistics.mean(returns), rel=1e-12)
    assert stats.std[0] == pytest.approx(statistics.stdev(returns), rel=1e-12)


def test_compute_window_stats_ignores_close_at_and_after_signal() -> None:
    rng = np.random.default_rng(7)
    close = 100.0 * np.cumprod(1.0 + rng.normal(0.0, 0.02, 60))
    positions = _positions([30])
    before = window_stats(close, positions, 10)
    changed = close.copy()
    changed[30:] *= 3.0  # the signal day and everything after it
    after = window_stats(changed, positions, 10)
    assert_array_equal(before.mean, after.mean)
    assert_array_equal(before.std, after.std)
    changed[20] *= 1.5  # position i-h = 20 is inside the window and must matter
    assert window_stats(changed, positions, 10).mean[0] != before.mean[0]


def test_compute_window_stats_ignores_close_before_window() -> None:
    close = np.linspace(50.0, 80.0, 40)
    positions = _positions([25])
    before = window_stats(close, positions, 5)
    changed = close.copy()
    changed[:20] = 1.0  # positions < i-h = 20
    after = window_stats(changed, positions, 5)
    assert_array_equal(before.mean, after.mean)
    assert_array_equal(before.std, after.std)


@pytest.mark.parametrize("h", [3, 4, 7, 20, 101])
@pytest.mark.parametrize("ticker", ["NVDA", "AAPL"])
def test_compute_window_stats_matches_plain_statistics(
    load_window: Callable[[str], PriceSeries], ticker: str, h: int
) -> None:
    window = load_window(ticker)
    close = window.close
    buys = detect_signals(window.open, close, "buy")
    sells = detect_signals(window.open, close, "sell")
    positions = np.union1d(buys, sells)
    positions = positions[positions >= h]
    # Also the smallest and largest allowed positions.
    positions = np.union1d(positions, _positions([h, len(close) - 1]))
    stats = window_stats(close, positions, h)
    expected = [_plain_stats(close, int(i), h) for i in positions]
    assert_allclose(stats.mean, [m for m, _ in expected], rtol=1e-9, atol=1e-16)
    assert_allclose(stats.std, [s for _, s in expected], rtol=1e-9, atol=1e-16)


def test_compute_window_stats_every_position_h3_matches_plain_statistics(
    load_window: Callable[[str], PriceSeries],
) -> None:
    close = load_window("NVDA").close
    positions = np.arange(3, len(close), dtype=np.int64)
    stats = window_stats(close, positions, 3)
    expected = [_plain_stats(close, int(i), 3) for i in positions]
    assert_allclose(stats.mean, [m for m, _ in expected], rtol=1e-9, atol=1e-16)
    assert_allclose(stats.std, [s for _, s in expected], rtol=1e-9, atol=1e-16)


@pytest.mark.parametrize("h", [2, 1, 0, -3])
def test_compute_window_stats_raises_when_h_below_3(h: int) -> None:
    close = np.linspace(10.0, 20.0, 30)
    with pytest.raises(ValueError, match="h"):
        window_stats(close, _positions([10]), h)


@pytest.mark.parametrize(("h", "positions"), [(3, [2]), (10, [9, 15]), (10, [15, 0]), (5, [4])])
def test_compute_window_stats_raises_when_position_below_h(h: int, positions: list[int]) -> None:
    close = np.linspace(10.0, 20.0, 30)
    with pytest.raises(ValueError, match=">= h"):
        window_stats(close, _positions(positions), h)


def test_compute_window_stats_returns_empty_when_no_positions() -> None:
    stats = window_stats(np.linspace(10.0, 20.0, 30), _positions([]), 5)
    assert stats.mean.shape == (0,)
    assert stats.std.shape == (0,)


# ---------------------------------------------------------------------------------------------
# profit / loss

CLOSE = np.array([10.0, 11.0, 12.0, 9.0, 15.0])


def test_compute_profit_loss_buy_is_later_minus_signal_close() -> None:
    values = profit_loss(CLOSE, _positions([0, 1, 2]), 2, "buy")
    assert_array_equal(values, [2.0, -2.0, 3.0])


def test_compute_profit_loss_sell_is_signal_close_minus_later() -> None:
    values = profit_loss(CLOSE, _positions([0, 1, 2]), 2, "sell")
    assert_array_equal(values, [-2.0, 2.0, -3.0])


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_compute_profit_loss_null_when_past_last_row(side: Side) -> None:
    values = profit_loss(CLOSE, _positions([1, 2, 3, 4]), 2, side)
    assert not np.isnan(values[:2]).any()  # 2 + 2 = 4 is the last row: still inside
    assert np.isnan(values[2:]).all()


def test_compute_profit_loss_all_null_when_p_exceeds_window() -> None:
    values = profit_loss(CLOSE, _positions([0, 2]), 5, "buy")
    assert values.shape == (2,)
    assert np.isnan(values).all()


def test_compute_profit_loss_empty_when_no_positions() -> None:
    values = profit_loss(CLOSE, _positions([]), 1, "sell")
    assert values.shape == (0,)
    assert values.dtype == np.float64


def test_compute_total_profit_loss_sums_non_null() -> None:
    values = np.array([1.5, np.nan, -0.25, 2.0, np.nan])
    total = total_profit_loss(values)
    assert isinstance(total, float)
    assert total == 3.25


@pytest.mark.parametrize("values", [np.array([]), np.array([np.nan]), np.array([np.nan] * 3)])
def test_compute_total_profit_loss_zero_when_no_values(values: np.ndarray) -> None:
    total = total_profit_loss(values)
    assert isinstance(total, float)
    assert total == 0.0
    assert not math.isnan(total)


def test_compute_mean_or_none_averages_non_null() -> None:
    result = mean_or_none(np.array([1.0, np.nan, 2.0, 6.0]))
    assert isinstance(result, float)
    assert result == 3.0


@pytest.mark.parametrize("values", [np.array([]), np.array([np.nan, np.nan])])
def test_compute_mean_or_none_none_when_no_values(values: np.ndarray) -> None:
    assert mean_or_none(values) is None


def _plain_profit_loss(close: np.ndarray, positions: np.ndarray, p: int, side: Side) -> list:
    out: list[float | None] = []
    for i in positions:
        if i + p > len(close) - 1:
            out.append(None)
        elif side == "buy":
            out.append(float(close[i + p]) - float(close[i]))
        else:
            out.append(float(close[i]) - float(close[i + p]))
    return out


@pytest.mark.parametrize("p", [1, 7, 30, 400])
@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("ticker", ["NVDA", "AAPL"])
def test_compute_profit_loss_matches_plain_computation(
    load_window: Callable[[str], PriceSeries], ticker: str, side: Side, p: int
) -> None:
    window = load_window(ticker)
    positions = detect_signals(window.open, window.close, side)
    assert positions.size >= 5
    values = profit_loss(window.close, positions, p, side)
    expected = _plain_profit_loss(window.close, positions, p, side)
    assert [None if math.isnan(v) else v for v in values.tolist()] == expected
    present = [v for v in expected if v is not None]
    if p == 400:
        assert len(present) < len(expected), "p=400 should leave some signals without P/L"
    assert total_profit_loss(values) == pytest.approx(math.fsum(present), abs=1e-9)
    average = mean_or_none(values)
    if present:
        assert average == pytest.approx(math.fsum(present) / len(present), abs=1e-9)
    else:
        assert average is None
