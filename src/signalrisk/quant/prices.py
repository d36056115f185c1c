"""Daily price series and the analysis window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """Daily bars of one ticker in ascending date order.

    ``open`` and ``close`` are split-adjusted, not dividend-adjusted (SPEC §3); ``dates`` are
    ``datetime64[D]``. Positions in the arrays are the positions ``i`` of the maths.
    """

    ticker: str
    dates: DateArray
    open: FloatArray
    close: FloatArray

    def __post_init__(self) -> None:
        n = len(self.dates)
        if len(self.open) != n or len(self.close) != n:
            raise ValueError("dates, open and close must have the same length")
        if n > 1 and not bool(np.all(self.dates[1:] > self.dates[:-1])):
            raise ValueError("dates must be strictly ascending")

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def first_date(self) -> date:
        return to_date(self.dates[0])

    @property
    def last_date(self) -> date:
        return to_date(self.dates[-1])

    def window(self, start: date, end: date) -> PriceSeries:
        """The rows with ``start <= date <= end``; nothing outside is kept."""
        lo = int(np.searchsorted(self.dates, np.datetime64(start, "D"), side="left"))
        hi = int(np.searchsorted(self.dates, np.datetime64(end, "D"), side="right"))
        return PriceSeries(self.ticker, self.dates[lo:hi], self.open[lo:hi], self.close[lo:hi])


def default_window(series: PriceSeries, days: int = 1094) -> tuple[date, date]:
    """SPEC §3: ``end`` is the data set's last date and ``start = end - days``, both included."""
    end = series.last_date
    return end - timedelta(days=days), end


def to_date(value: np.datetime64) -> date:
    """A ``datetime64[D]`` as a :class:`datetime.date`."""
    return date.fromisoformat(str(value.astype("datetime64[D]")))
