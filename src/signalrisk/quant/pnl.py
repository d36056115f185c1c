"""Profit or loss of each signal ``p`` days later."""

from __future__ import annotations

import math

import numpy as np

from signalrisk.quant.prices import FloatArray
from signalrisk.quant.signals import IntArray, Side


def profit_loss(close: FloatArray, positions: IntArray, p: int, side: Side) -> FloatArray:
    """Per-share P/L in price units: buy ``close[i+p] - close[i]``, sell ``close[i] - close[i+p]``.

    NaN where ``i + p`` is past the window's last row (reported as null).
    """
    out = np.full(positions.shape, np.nan, dtype=np.float64)
    later = positions + p
    inside = later < len(close)
    move = close[later[inside]] - close[positions[inside]]
    out[inside] = move if side == "buy" else -move
    return out


def total_profit_loss(values: FloatArray) -> float:
    """Sum of the non-null values; 0.0 when there are none."""
    return float(np.nansum(values)) if values.size else 0.0


def mean_or_none(values: FloatArray) -> float | None:
    """Mean of the non-null values, or None when there are none."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return None
    result = float(finite.mean())
    return None if math.isnan(result) else result
