"""The price-source interface."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from signalrisk.quant.prices import PriceSeries


@runtime_checkable
class PriceSource(Protocol):
    """Daily bars by ticker.

    ``load`` returns the whole history of ``ticker`` in ascending date order, or raises
    :class:`signalrisk.core.errors.UnknownTicker` when the source has no prices for it.
    It may be called often: providers cache what they read.
    """

    name: str

    def load(self, ticker: str) -> PriceSeries: ...

    def tickers(self) -> list[str]:
        """Tickers known without a network call (may be empty for live sources)."""
        ...
