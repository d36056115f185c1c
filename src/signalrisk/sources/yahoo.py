"""Live prices from Yahoo Finance through yfinance (extra ``yahoo``; needs the network)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from signalrisk.core.errors import InternalError, UnknownTicker
from signalrisk.quant.prices import PriceSeries
from signalrisk.sources.csvfile import normalise_ticker


class YahooSource:
    """Daily bars with ``auto_adjust=False`` (Open/Close split-adjusted only), cached 1 h."""

    name = "yahoo"

    def __init__(self, ttl_s: float = 3600.0) -> None:
        try:
            import yfinance
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise InternalError(
                "price source 'yahoo' needs the extra: pip install 'signalrisk[yahoo]'"
            ) from exc
        self._yf: Any = yfinance
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, PriceSeries]] = {}

    def load(self, ticker: str) -> PriceSeries:
        symbol = normalise_ticker(ticker)
        hit = self._cache.get(symbol)
        if hit and time.monotonic() - hit[0] < self._ttl_s:
            return hit[1]
        frame = self._yf.download(
            symbol,
            period="max",
            interval="1d",
            auto_adjust=False,
            progress=False,
            multi_level_index=False,
        )
        if frame is None or frame.empty:
            raise UnknownTicker(f"Yahoo Finance has no daily prices for {symbol}", field="ticker")
        frame = frame.dropna(subset=["Open", "Close"])
        series = PriceSeries(
            symbol,
            np.array([d.date().isoformat() for d in frame.index], dtype="datetime64[D]"),
            frame["Open"].to_numpy(dtype=np.float64),
            frame["Close"].to_numpy(dtype=np.float64),
        )
        self._cache[symbol] = (time.monotonic(), series)
        return series

    def tickers(self) -> list[str]:
        return []
