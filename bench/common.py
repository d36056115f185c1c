"""What every figure returns, and the small statistics they share.

A :class:`Row` is one line of the table: what is measured, its target, the measurement, the
reference implementation's figure where there is one, the ratio, and whether the target is met.
``passed`` is ``None`` for information rows (no target). A :class:`Figure` holds a figure's
rows, its raw measurements (for ``results.json``) and notes for ``BENCHMARKS.md``.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Mode:
    """How much to measure: the full suite, or the quick one that only proves it runs."""

    quick: bool

    def pick(self, full: Any, quick: Any) -> Any:
        """``quick`` in quick mode, ``full`` otherwise."""
        return quick if self.quick else full


@dataclass
class Row:
    """One line of the table."""

    figure: str
    name: str
    target: str
    measured: str
    reference: str = ""
    ratio: str = ""
    passed: bool | None = None

    @property
    def status(self) -> str:
        return {True: "pass", False: "FAIL", None: "info"}[self.passed]


@dataclass
class Figure:
    """A figure's rows, raw numbers and notes."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    load: dict[str, Any] = field(default_factory=dict)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def load_average() -> str:
    """The 1/5/15-minute load averages, as ``top`` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def fmt_rate(per_s: float) -> str:
    """A rate with an SI prefix: 1.2 G/s, 340 M/s, 2.0 k/s."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(per_s) >= scale:
            return f"{per_s / scale:.3g} {prefix}/s"
    return f"{per_s:.3g} /s"


def fmt_seconds(seconds: float) -> str:
    """A duration in the unit that reads best: 12.3 ms, 4.56 s, 2.1 min, 12.3 h."""
    if seconds < 1.0:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 120.0:
        return f"{seconds:.3g} s"
    if seconds < 7200.0:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def fmt_bytes(n: float) -> str:
    """Bytes in MiB or GiB."""
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    return f"{n / 2**20:.1f} MiB"


def fmt_count(n: float) -> str:
    """1e7 for a power of ten from 1000 up, 500 or 12,345 otherwise."""
    exponent = round(math.log10(n)) if n > 0 else 0
    if exponent >= 3 and n == 10**exponent:
        return f"1e{exponent}"
    return f"{n:,.0f}"


def fmt_ratio(value: float) -> str:
    if not math.isfinite(value):
        return ""
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"
