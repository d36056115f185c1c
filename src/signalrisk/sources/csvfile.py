"""Prices from CSV files in Yahoo Finance's layout: Date,Open,High,Low,Close,Adj Close,Volume."""

from __future__ import annotations

import csv
import io
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from signalrisk.core.errors import InvalidParameter, UnknownTicker
from signalrisk.quant.prices import PriceSeries

_TICKER = re.compile(r"^[A-Z0-9.^=-]{1,15}$")


def normalise_ticker(ticker: str) -> str:
    """Upper-case ``ticker`` and refuse anything that could not be a symbol (or a path trick)."""
    symbol = ticker.strip().upper()
    if not _TICKER.match(symbol):
        raise InvalidParameter(
            "ticker must be 1 to 15 characters of A-Z, 0-9, '.', '^', '=' or '-'", field="ticker"
        )
    return symbol


def parse_csv(text: str, ticker: str) -> PriceSeries:
    """Parse Yahoo-layout CSV text; rows with a blank Open or Close are skipped, dates sorted."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        date, open_, close = row.get("Date"), row.get("Open"), row.get("Close")
        if not date or not open_ or not close:
            continue
        rows.append((date[:10], float(open_), float(close)))
    if not rows:
        raise UnknownTicker(f"no price rows for {ticker}", field="ticker")
    rows.sort()
    dates = np.array([r[0] for r in rows], dtype="datetime64[D]")
    return PriceSeries(
        ticker,
        dates,
        np.array([r[1] for r in rows], dtype=np.float64),
        np.array([r[2] for r in rows], dtype=np.float64),
    )


class CsvDirectorySource:
    """``<TICKER>.csv`` files in a directory, or one CSV file that serves any ticker."""

    name = "csv"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _file_for(self, ticker: str) -> Path:
        if self.path.is_file():
            return self.path
        return self.path / f"{ticker}.csv"

    def load(self, ticker: str) -> PriceSeries:
        symbol = normalise_ticker(ticker)
        file = self._file_for(symbol)
        if not file.is_file():
            known = ", ".join(self.tickers()) or "none"
            raise UnknownTicker(f"no prices for {symbol}; known tickers: {known}", field="ticker")
        stat = file.stat()
        return _read_cached(str(file), symbol, stat.st_mtime_ns, stat.st_size)

    def tickers(self) -> list[str]:
        if self.path.is_file():
            return [self.path.stem.upper()]
        return sorted(p.stem.upper() for p in self.path.glob("*.csv"))


@lru_cache(maxsize=64)
def _read_cached(file: str, ticker: str, mtime_ns: int, size: int) -> PriceSeries:
    # mtime and size are part of the key so that an edited file is read again.
    return parse_csv(Path(file).read_text(encoding="utf-8"), ticker)
