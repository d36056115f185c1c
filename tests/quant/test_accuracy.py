"""Monte Carlo error formulas of the VaR estimates (notes/perf-research.md §3)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from signalrisk.quant.accuracy import (
    SE95_FACTOR,
    SE99_FACTOR,
    analytic_var,
    bias,
    standard_error,
)
from signalrisk.quant.var import rank_95, rank_99


def test_compute_se_factors_match_research_notes() -> None:
    assert pytest.approx(2.1132, abs=1e-4) == SE95_FACTOR
    assert pytest.approx(3.7332, abs=1e-4) == SE99_FACTOR


@pytest.mark.parametrize(
    ("d", "level", "expected"),
    [(1000, 95, 0.0668), (10_000, 95, 0.0211), (10_000, 99, 0.0373), (100_000, 99, 0.0118)],
)
def test_compute_standard_error_matches_research_table(d: int, level: int, expected: float) -> None:
    assert standard_error(1.0, d, 1, level) == pytest.approx(expected, rel=3e-3)


def test_compute_standard_error_scales_with_std_and_sqrt_dr() -> None:
    base = standard_error(1.0, 10_000, 1, 99)
    assert standard_error(2.0, 10_000, 1, 99) == pytest.approx(2 * base, rel=1e-12)
    assert standard_error(-2.0, 10_000, 1, 99) == pytest.approx(2 * base, rel=1e-12)
    assert standard_error(1.0, 10_000, 4, 99) == pytest.approx(base / 2, rel=1e-12)
    assert standard_error(1.0, 40_000, 1, 99) == pytest.approx(base / 2, rel=1e-12)
    assert standard_error(0.02, 10_000, 3, 95) == pytest.approx(
        SE95_FACTOR * 0.02 / math.sqrt(30_000), rel=1e-12
    )


def test_compute_bias_99_at_d_10000_matches_research_notes() -> None:
    assert bias(1.0, 10_000, 99) == pytest.approx(-16.6 / 10_000, rel=0.05)


def test_compute_bias_95_at_d_10000_matches_research_notes() -> None:
    assert bias(1.0, 10_000, 95) == pytest.approx(-4.2 / 10_000, rel=0.05)


@pytest.mark.parametrize("d", [1000, 2000, 10_000, 100_000, 1_000_000])
def test_compute_bias_negative_at_round_d(d: int) -> None:
    # At multiples of 100 the rank read sits below p (d + 1): about -16.6 std/d and -4.2 std/d.
    assert bias(1.0, d, 99) * d == pytest.approx(-16.6, rel=0.05)
    assert bias(1.0, d, 95) * d == pytest.approx(-4.2, rel=0.05)


@pytest.mark.parametrize("d", [1000, 1001, 12_345, 10**6 + 1])
def test_compute_bias_proportional_to_abs_std(d: int) -> None:
    for level in (95, 99):
        unit = bias(1.0, d, level)
        assert bias(0.02, d, level) == pytest.approx(0.02 * unit, rel=1e-12)
        assert bias(-0.02, d, level) == pytest.approx(0.02 * unit, rel=1e-12)


def test_compute_bias_positive_when_floor_rank_is_above_p() -> None:
    # d = 1001: int(0.95 d) = 950 is read, ascending 1-based rank 51 > 0.05 * 1002, so the
    # estimate sits on the near side of the quantile on average (checked exactly below).
    assert bias(1.0, 1001, 95) > 0.0
    assert bias(1.0, 1001, 99) > 0.0


@pytest.mark.parametrize(
    ("d", "r", "expected"),
    [
        (1000, 1, 0.725),
        (1000, 32, 0.142),
        (10_000, 8, 0.081),
        (100_000, 32, 0.0127),
        (10**6, 1, 0.0224),
    ],
)
def test_compute_tolerance_99_matches_research_table(d: int, r: int, expected: float) -> None:
    tolerance = 6 * standard_error(1.0, d, r, 99) + abs(bias(1.0, d, 99))
    assert tolerance == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("level", [95, 99])
@pytest.mark.parametrize("d", [1000, 1001, 1234])
def test_compute_bias_matches_exact_order_statistic_mean(d: int, level: int) -> None:
    # The read order statistic of d uniforms is Beta(k, d + 1 - k); its mapped mean minus the
    # true quantile is the exact bias, estimated here from 100000 exact draws.
    n = 100_000
    k = (rank_95(d) if level == 95 else rank_99(d)) + 1
    uniforms = np.random.default_rng(17 + d + level).beta(k, d + 1 - k, n)
    inv_cdf = NormalDist().inv_cdf
    errors = np.array([inv_cdf(float(u)) for u in uniforms]) - analytic_var(0.0, 1.0, level)
    tolerance = 4 * float(np.std(errors)) / math.sqrt(n)
    assert abs(float(np.mean(errors)) - bias(1.0, d, level)) <= tolerance
    assert float(np.std(errors)) == pytest.approx(standard_error(1.0, d, 1, level), rel=0.03)


def test_compute_analytic_var_is_normal_quantile() -> None:
    assert analytic_var(0.0, 1.0, 95) == pytest.approx(-1.6449, abs=1e-4)
    assert analytic_var(0.0, 1.0, 99) == pytest.approx(-2.3263, abs=1e-4)
    assert analytic_var(0.001, 0.02, 99) == pytest.approx(0.001 - 0.02 * 2.326348, rel=1e-6)
    assert analytic_var(0.001, -0.02, 95) == analytic_var(0.001, 0.02, 95)
    assert analytic_var(0.5, 0.0, 99) == 0.5
