"""Three White Soldiers (buy) and Three Black Crows (sell) on daily candles."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from signalrisk.quant.prices import FloatArray

Side = Literal["buy", "sell"]
IntArray = npt.NDArray[np.int64]

BODY = 0.01
"""Minimum candle body, in price units, for a day to count as white (buy) or black (sell)."""


def detect_signals(
    open_: FloatArray, close: FloatArray, side: Side, body: float = BODY
) -> IntArray:
    """Positions ``i`` (the third candle) where the pattern of ``side`` completes.

    buy:  on days i-2, i-1, i ``close - open >= body``, and ``close[i] > close[i-1] > close[i-2]``;
    sell: on days i-2, i-1, i ``open - close >= body``, and ``close[i] < close[i-1] < close[i-2]``.
    Overlapping runs fire on consecutive days. Returns ascending int64 positions.
    """
    if len(open_) < 3:
        return np.empty(0, dtype=np.int64)
    if side == "buy":
        candle = (close - open_) >= body
        trend = close[1:] > close[:-1]
    else:
        candle = (open_ - close) >= body
        trend = close[1:] < close[:-1]
    # Position i (>= 2) needs candles at i-2, i-1, i and rises (or falls) at i-1 and i.
    hit = candle[2:] & candle[1:-1] & candle[:-2] & trend[1:] & trend[:-1]
    return np.flatnonzero(hit).astype(np.int64) + 2
