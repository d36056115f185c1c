"""signalrisk: Monte Carlo Value at Risk of candlestick trading signals on elastic compute."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("signalrisk")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"
