"""The VaR chart of one analysis: per-signal var95/var99 and their averages, as PNG bytes.

Drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never pyplot, so charts can be
rendered from several threads at once; matplotlib is imported inside the function so that
importing this module stays fast.
"""

from __future__ import annotations

import io

_MAX_TICK_LABELS = 12


def chart_title(ticker: str, t: str, h: int, d: int, r: int, start: str, end: str) -> str:
    """Title of a VaR chart, e.g. ``NVDA sell signals, 2022-02-14 to 2025-02-11 — h=101, ...``."""
    return f"{ticker} {t} signals, {start} to {end} — h={h}, d={d}, r={r}"


def render_var_chart(
    dates: list[str],
    var95: list[float],
    var99: list[float],
    av95: float | None,
    av99: float | None,
    title: str,
) -> bytes:
    """Render the per-signal VaR chart as PNG bytes.

    ``dates[i]``, ``var95[i]`` and ``var99[i]`` describe signal ``i`` (VaR as a fractional one-day
    return, negative for a loss). ``av95``/``av99`` are drawn as horizontal lines when not None.
    With no signals the chart says so in the middle, under the same title.
    """
    if not len(dates) == len(var95) == len(var99):
        raise ValueError(
            f"dates, var95 and var99 differ in length: {len(dates)}, {len(var95)}, {len(var99)}"
        )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    if not dates:
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            "No signals in this window",
            ha="center",
            va="center",
            fontsize=16,
            transform=ax.transAxes,
        )
    else:
        positions = list(range(len(dates)))
        ax.plot(positions, var95, marker="o", linewidth=1, color="tab:blue", label="VaR 95%")
        ax.plot(positions, var99, marker="s", linewidth=1, color="tab:red", label="VaR 99%")
        for average, color, level in ((av95, "tab:blue", 95), (av99, "tab:red", 99)):
            if average is not None:
                label = f"average VaR {level}% = {average:.4f}"
                ax.axhline(average, linestyle="--", color=color, label=label)
        step = -(-len(dates) // _MAX_TICK_LABELS)  # ceiling division: at most 12 labels
        ax.set_xticks(positions[::step], dates[::step], rotation=45, ha="right")
        ax.set_xlabel("signal date")
        ax.set_ylabel("VaR (one-day return)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
