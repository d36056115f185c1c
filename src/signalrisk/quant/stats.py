"""Return statistics of the ``h`` days before each signal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signalrisk.quant.prices import FloatArray
from signalrisk.quant.signals import IntArray


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Per-signal ``mean`` and sample ``std`` (ddof=1) of simple daily returns."""

    mean: FloatArray
    std: FloatArray


def window_stats(close: FloatArray, positions: IntArray, h: int) -> WindowStats:
    """Statistics of the closes ``close[i-h : i]`` (positions i-h .. i-1) for each signal ``i``.

    Those ``h`` closes give ``h - 1`` simple returns ``c[j+1] / c[j] - 1``. Every position must
    satisfy ``i >= h`` (callers drop the others, SPEC §3) and ``h >= 3`` so that std is defined.
    """
    if h < 3:
        raise ValueError("h must be at least 3")
    if positions.size and int(positions.min()) < h:
        raise ValueError("every signal position must be >= h")
    returns = close[1:] / close[:-1] - 1.0  # returns[j] is from close[j] to close[j+1]
    if positions.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return WindowStats(empty, empty)
    # Closes i-h..i-1 give returns indexed i-h..i-2: a window of h-1 returns ending at i-2.
    windows = np.lib.stride_tricks.sliding_window_view(returns, h - 1)[positions - h]
    return WindowStats(windows.mean(axis=1), windows.std(axis=1, ddof=1))
