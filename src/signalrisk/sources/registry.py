"""Price sources by name, imported lazily."""

from __future__ import annotations

from importlib import import_module

from signalrisk.core.config import Settings
from signalrisk.core.errors import InternalError
from signalrisk.sources.base import PriceSource

_PROVIDERS = {
    "bundled": "signalrisk.sources.bundled:BundledSource",
    "csv": "signalrisk.sources.csvfile:CsvDirectorySource",
    "yahoo": "signalrisk.sources.yahoo:YahooSource",
}


def price_source(settings: Settings) -> PriceSource:
    """The configured price source; an unknown name lists the valid ones."""
    name = settings.price_source
    if name not in _PROVIDERS:
        raise InternalError(f"unknown price source {name!r}; choose one of {sorted(_PROVIDERS)}")
    module, attr = _PROVIDERS[name].split(":")
    cls = getattr(import_module(module), attr)
    if name == "csv":
        if settings.csv_path is None:
            raise InternalError("price source 'csv' needs SIGNALRISK_CSV_PATH")
        source: PriceSource = cls(settings.csv_path)
    else:
        source = cls()
    return source
