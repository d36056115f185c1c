"""The cost of an analysis estimated before it runs (the basis of ``limits.max_analysis_usd``),
with a hand computation for each case."""

from __future__ import annotations

import math

import pytest

from signalrisk.core.config import PriceTable
from signalrisk.services.costs import batch_seconds, estimate_analysis_cost

PRICES = PriceTable()


def test_estimate_lambda_cost_at_memory_share_of_a_vcpu() -> None:
    # 1024 MB buys 1024/1769 of a vCPU: 36 signals x d=1e6 on it take 0.01 + 3.6e7 / 210.7e6 s.
    seconds = 0.01 + 36e6 / (364e6 * 1024 / 1769)
    cost = estimate_analysis_cost("lambda", 3, 1_000_000, 36, PRICES)
    billed = math.ceil(seconds * 1000) / 1000
    assert cost.billable_s == pytest.approx(3 * billed)
    assert cost.usd == pytest.approx(3 * (billed * 1.0 * 0.0000166667 + 0.20 / 1e6))
    assert (cost.estimate, cost.basis) == (True, "list-price")


def test_estimate_lambda_cost_caps_cpu_at_one_vcpu() -> None:
    big = PriceTable(lambda_memory_mb=4096)
    assert batch_seconds("lambda", 364_000_000, big) == pytest.approx(1.01)


def test_estimate_ec2_cost_is_wall_time_times_r_at_hourly_price() -> None:
    seconds = 0.01 + 500 * 10_000_000 / 364e6
    cost = estimate_analysis_cost("ec2", 32, 10_000_000, 500, PRICES)
    assert cost.billable_s == pytest.approx(32 * seconds)
    assert cost.usd == pytest.approx(32 * seconds * (0.0116 + 0.005) / 3600)


def test_estimate_no_signals_costs_nothing() -> None:
    assert estimate_analysis_cost("lambda", 8, 10_000_000, 0, PRICES).usd == 0.0


def test_estimate_grows_with_d_and_r() -> None:
    costs = [
        estimate_analysis_cost("lambda", r, d, 36, PRICES).usd
        for r, d in ((1, 10), (1, 10**6), (2, 10**6))
    ]
    assert costs == sorted(costs) and len(set(costs)) == 3
