"""Monte Carlo error of the VaR estimates (notes/perf-research.md §3).

For the sample p-quantile of ``d`` draws of Normal(mean, std), averaged over ``r`` resources:

    SE_p  = std * sqrt(p (1 - p)) / phi(z_p) / sqrt(d r)   -> 2.113 std/sqrt(dr) (95%), 3.733 (99%)
    bias_p ~ std * [(k/(d+1) - p)/phi(z_p) + z_p p(1-p) / (2 phi(z_p)^2 (d+2))]
           -> about -4.2 std/d (95%) and -16.6 std/d (99%); averaging over r does not remove it.

``k`` is the 1-based ascending rank that is read. When d is a multiple of 20 (95%) or 100 (99%)
the bias is negative ("too far in the tail"); for other d the rank rounding can make it positive.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from signalrisk.quant.var import rank_95, rank_99

_NORMAL = NormalDist()


def _se_factor(p: float) -> float:
    z = _NORMAL.inv_cdf(p)
    return math.sqrt(p * (1 - p)) / _NORMAL.pdf(z)


SE95_FACTOR = _se_factor(0.05)  # 2.1132
SE99_FACTOR = _se_factor(0.01)  # 3.7332


def standard_error(std: float, d: int, r: int, level: int) -> float:
    """Standard error of the averaged VaR at ``level`` (95 or 99), in return units."""
    factor = SE95_FACTOR if level == 95 else SE99_FACTOR
    return factor * abs(std) / math.sqrt(d * r)


def bias(std: float, d: int, level: int) -> float:
    """Expected error of one resource's VaR at ``level`` (second-order delta method)."""
    p = 0.05 if level == 95 else 0.01
    k = (rank_95(d) if level == 95 else rank_99(d)) + 1
    z = _NORMAL.inv_cdf(p)
    phi = _NORMAL.pdf(z)
    return abs(std) * ((k / (d + 1) - p) / phi + z * p * (1 - p) / (2 * phi**2 * (d + 2)))


def analytic_var(mean: float, std: float, level: int) -> float:
    """The exact quantile ``mean + std * Phi^-1(p)`` that the estimate converges to."""
    p = 0.05 if level == 95 else 0.01
    return mean + abs(std) * _NORMAL.inv_cdf(p)
