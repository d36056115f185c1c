"""A run's signals as CSV: one row per signal, the columns of ``/v1/runs/{id}`` items."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

CSV_COLUMNS = (
    "date",
    "position",
    "mean",
    "std",
    "var95",
    "var99",
    "se95",
    "se99",
    "spread95",
    "spread99",
    "profit_loss",
)


def signals_csv(items: Sequence[Mapping[str, Any]]) -> str:
    """The per-signal rows as CSV with a header; an absent value (no P/L yet) is an empty cell.

    Floats are written with ``repr`` precision so that the file round-trips to the JSON numbers.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(["" if item.get(c) is None else item.get(c) for c in CSV_COLUMNS])
    return out.getvalue()
