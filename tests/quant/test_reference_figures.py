"""SPEC §3 reference figures: bundled NVDA, default window, t=sell, h=101, d=10000, r=3, p=7."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pytest

from signalrisk.quant.accuracy import analytic_var, bias, standard_error
from signalrisk.quant.pnl import profit_loss, total_profit_loss
from signalrisk.quant.prices import PriceSeries, to_date
from signalrisk.quant.signals import detect_signals
from signalrisk.quant.stats import window_stats
from signalrisk.quant.var import simulate_var

H, D, R, P = 101, 10_000, 3, 7


@pytest.fixture(scope="module")
def nvda(load_window: Callable[[str], PriceSeries]) -> PriceSeries:
    return load_window("NVDA")


@pytest.fixture(scope="module")
def sell_positions(nvda: PriceSeries) -> np.ndarray:
    positions = detect_signals(nvda.open, nvda.close, "sell")
    return positions[positions >= H]


def test_load_window_nvda_default_has_reference_rows(nvda: PriceSeries) -> None:
    assert len(nvda) == 751
    assert nvda.first_date == date(2022, 2, 14)
    assert nvda.last_date == date(2025, 2, 11)


def test_detect_signals_nvda_sell_h101_gives_36_reference_signals(
    nvda: PriceSeries, sell_positions: np.ndarray
) -> None:
    all_sells = detect_signals(nvda.open, nvda.close, "sell")
    assert all_sells.size > sell_positions.size  # some were excluded by i < h
    assert sell_positions.size == 36
    assert to_date(nvda.dates[sell_positions[0]]) == date(2022, 8, 30)
    assert to_date(nvda.dates[sell_positions[-1]]) == date(2025, 1, 10)


def test_compute_profit_loss_nvda_sell_p7_matches_reference_total(
    nvda: PriceSeries, sell_positions: np.ndarray
) -> None:
    values = profit_loss(nvda.close, sell_positions, P, "sell")
    assert not np.isnan(values).any()
    total = total_profit_loss(values)
    assert round(total, 3) == -39.763


@pytest.mark.parametrize("seed", [0, 20250211, 987654321])
def test_simulate_var_nvda_reference_within_tolerance_of_analytic(
    nvda: PriceSeries, sell_positions: np.ndarray, seed: int
) -> None:
    stats = window_stats(nvda.close, sell_positions, H)
    runs = [simulate_var(stats.mean, stats.std, D, seed, k) for k in range(R)]
    averages = {
        95: np.mean([run.var95 for run in runs], axis=0),
        99: np.mean([run.var99 for run in runs], axis=0),
    }
    for level, estimates in averages.items():
        assert estimates.shape == (36,)
        for j, estimate in enumerate(estimates):
            mean, std = float(stats.mean[j]), float(stats.std[j])
            tolerance = 6 * standard_error(std, D, R, level) + abs(bias(std, D, level))
            target = analytic_var(mean, std, level)
            assert abs(estimate - target) <= tolerance, (level, j, estimate, target, tolerance)
            assert estimate < 0.0  # a one-day loss at these means and stds
    assert np.all(averages[95] > averages[99])
