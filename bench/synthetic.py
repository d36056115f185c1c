"""A synthetic daily price series with an exact number of sell signals, for the largest job.

``python -m bench.synthetic OUT_DIR [--signals 500] [--ticker SYNTH]`` writes
``OUT_DIR/<TICKER>.csv`` in Yahoo Finance's layout (Date,Open,High,Low,Close,Adj Close,Volume).

The series is a deterministic random walk (a seeded ``numpy`` generator) whose day types are
engineered: a *down* day opens at the previous close and closes lower (a black candle with a
falling close), an *up* day opens at the previous close and closes higher (a white candle with
a rising close). A Three Black Crows signal fires at ``i`` exactly when days ``i-2, i-1, i``
are down days, so runs of down days separated by single up days make the count easy to steer:
shortening a run of three or more down days by its last day removes exactly one signal. The
runs are drawn at random, then trimmed at random until the sell side of the *default window*
(the last date and the 1094 days before it) has exactly ``signals`` signals with ``i >= h``.

The file is checked with signalrisk's own CSV parser and signal detector before it is kept, so
it is exactly what ``SIGNALRISK_PRICE_SOURCE=csv`` will read.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from signalrisk.quant.prices import default_window
from signalrisk.quant.signals import detect_signals
from signalrisk.sources.csvfile import parse_csv

END = date(2025, 2, 11)
"""Last date of the series (the bundled NVDA file's last date)."""
WINDOW_DAYS = 1094
HISTORY_ROWS = 40
"""Business days before the window: present in the file, never read by the default window."""


def business_days(first: date, last: date) -> list[date]:
    """Every Monday-to-Friday date from ``first`` to ``last`` inclusive."""
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _count(down: np.ndarray, lo: int, h: int) -> int:
    """Signals (three down days ending at ``i``) at window positions ``i >= h``."""
    ends = down[2:] & down[1:-1] & down[:-2]  # ends[k] is the signal at row k + 2
    return int(ends[lo + h - 2 :].sum())


def day_types(rows: int, lo: int, h: int, signals: int, rng: np.random.Generator) -> np.ndarray:
    """``True`` for a down day; exactly ``signals`` sell signals at window positions >= h."""
    down = np.zeros(rows, dtype=bool)
    row = 0
    while row < rows:
        run = int(rng.integers(8, 40))  # a run of down days, then one up day
        down[row : row + run] = True
        row += run + 1
    excess = _count(down, lo, h) - signals
    if excess < 0:
        raise ValueError(f"cannot place {signals} signals: the window is too short")
    while excess:
        # The last down day of a run of >= 3 (ending inside the counted range) carries exactly
        # one signal, and turning it into an up day creates none.
        last = down & ~np.roll(down, -1)
        last[-1] = down[-1]
        three = down & np.roll(down, 1) & np.roll(down, 2)
        candidates = np.flatnonzero(last & three)
        candidates = candidates[candidates >= lo + h]
        down[int(rng.choice(candidates))] = False
        excess -= 1
    return down


def _closes(down: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Closes of a walk around 100: small log-falls on down days; an up day climbs back to a
    random level 0.5% to 3% above 100 (by 0.2% at least), so the level stays near 100."""
    levels = np.empty(len(down))
    level = 0.0  # log of close / 100
    for k, is_down in enumerate(down):
        if k:
            target = rng.uniform(0.005, 0.03)
            level += -rng.uniform(0.001, 0.004) if is_down else max(target - level, 0.002)
        levels[k] = level
    return np.asarray(100.0 * np.exp(levels))


def build_csv(signals: int = 500, h: int = 101, seed: int = 20250211) -> str:
    """The CSV text of a series with exactly ``signals`` sell signals (i >= h, default window)."""
    first_window_day = END - timedelta(days=WINDOW_DAYS)
    window_days = business_days(first_window_day, END)
    history = business_days(first_window_day - timedelta(days=HISTORY_ROWS * 2), END)
    days = history[-(len(window_days) + HISTORY_ROWS) :]
    lo = HISTORY_ROWS
    rng = np.random.default_rng(seed)
    down = day_types(len(days), lo, h, signals, rng)
    close = _closes(down, rng)
    open_ = np.concatenate(([close[0] * 1.001], close[:-1]))  # opens at the previous close
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0, 0.01, size=len(days)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0, 0.01, size=len(days)))
    volume = rng.integers(1_000_000, 50_000_000, size=len(days))
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for k, day in enumerate(days):
        o, c = f"{open_[k]:.6f}", f"{close[k]:.6f}"
        lines.append(f"{day.isoformat()},{o},{high[k]:.6f},{low[k]:.6f},{c},{c},{volume[k]}")
    return "\n".join(lines) + "\n"


def count_signals(text: str, ticker: str, h: int) -> int:
    """Sell signals with ``i >= h`` in the default window, as signalrisk itself finds them."""
    series = parse_csv(text, ticker)
    window = series.window(*default_window(series, WINDOW_DAYS))
    found = detect_signals(window.open, window.close, "sell")
    return int((found >= h).sum())


def write_series(out_dir: Path, ticker: str = "SYNTH", signals: int = 500, h: int = 101) -> Path:
    """Write ``out_dir/<ticker>.csv`` and check its signal count; returns the path."""
    text = build_csv(signals, h)
    found = count_signals(text, ticker, h)
    if found != signals:
        raise RuntimeError(f"synthetic series has {found} sell signals, not {signals}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{ticker}.csv"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--signals", type=int, default=500)
    parser.add_argument("--h", type=int, default=101)
    parser.add_argument("--ticker", default="SYNTH")
    args = parser.parse_args()
    path = write_series(args.out_dir, args.ticker, args.signals, args.h)
    print(f"{path}: {args.signals} sell signals with i >= {args.h} in the default window")


if __name__ == "__main__":
    main()
