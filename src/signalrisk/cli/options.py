"""Options shared by the client commands, declared once.

The analysis options carry the API's one-letter names as short flags (``-h 101 -d 10000 -t sell
-p 7``, as in the source document); help is ``--help`` only, so ``-h`` is free for ``h``.
Ranges are checked by the API, which knows the window: its message names the field.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

import typer

from signalrisk.client import DEFAULT_URL as DEFAULT_URL  # the commands' default --url
from signalrisk.client import SignalriskClient

Service = Literal["lambda", "ec2"]
Side = Literal["buy", "sell"]

Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="SIGNALRISK_URL",
        help="the API's base URL (token, if needed, from SIGNALRISK_TOKEN)",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="print JSON only (stdout), for scripts")]
RunId = Annotated[
    str | None, typer.Argument(help="a run id (default: the last analysis)", show_default=False)
]
Timeout = Annotated[
    float, typer.Option("--timeout", min=0.0, help="seconds to wait before giving up (exit 4)")
]

ServiceOpt = Annotated[Service, typer.Option("--service", "-s", help="lambda or ec2")]
Resources = Annotated[
    int, typer.Option("--resources", "-r", min=1, help="r: parallel compute resources")
]
History = Annotated[
    int, typer.Option("--history", "-h", help="h: days of price history behind each signal")
]
Shots = Annotated[int, typer.Option("--shots", "-d", help="d: Monte Carlo shots per resource")]
SideOpt = Annotated[
    Side, typer.Option("--type", "-t", help="t: buy (Three White Soldiers) or sell (Black Crows)")
]
Period = Annotated[
    int, typer.Option("--period", "-p", help="p: days after the signal for the profit/loss")
]
Ticker = Annotated[
    str | None, typer.Option("--ticker", help="ticker symbol (default: the API's, NVDA)")
]
Start = Annotated[
    str | None, typer.Option("--start", help="window start, YYYY-MM-DD (default: end - 1094 d)")
]
End = Annotated[
    str | None, typer.Option("--end", help="window end, YYYY-MM-DD (default: last date of data)")
]
Seed = Annotated[int | None, typer.Option("--seed", help="random seed, for the same numbers again")]

DEFAULT_R = 3
DEFAULT_H = 101
DEFAULT_D = 10_000
DEFAULT_P = 7


def connect(url: str) -> SignalriskClient:
    """A client on ``url`` with the token from ``SIGNALRISK_TOKEN``, if set."""
    return SignalriskClient(url or DEFAULT_URL, token=os.environ.get("SIGNALRISK_TOKEN") or None)
