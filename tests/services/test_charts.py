"""The VaR chart renders a valid PNG for any number of signals."""

from __future__ import annotations

import struct

import pytest

from signalrisk.services.charts import chart_title, render_var_chart

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert png[:8] == PNG_MAGIC
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR"
    assert length == 13
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_render_chart_many_signals_returns_png() -> None:
    dates = [f"2023-{m:02d}-{d:02d}" for m in range(1, 13) for d in (3, 13, 23)]
    var95 = [-0.04 - 0.001 * i for i in range(36)]
    var99 = [v - 0.02 for v in var95]
    png = render_var_chart(
        dates, var95, var99, sum(var95) / 36, sum(var99) / 36, "NVDA sell signals"
    )
    width, height = png_size(png)
    assert width > 0
    assert height > 0


def test_render_chart_zero_signals_returns_png() -> None:
    png = render_var_chart([], [], [], None, None, "NVDA sell signals")
    width, height = png_size(png)
    assert width > 0
    assert height > 0


def test_render_chart_none_averages_returns_png() -> None:
    png = render_var_chart(
        ["2024-01-02", "2024-01-03"], [-0.05, -0.04], [-0.07, -0.06], None, None, "t"
    )
    assert png_size(png)[0] > 0


def test_render_chart_mismatched_lengths_raises() -> None:
    with pytest.raises(ValueError, match="length"):
        render_var_chart(["2024-01-02"], [], [], None, None, "t")


def test_chart_title_formats_parameters() -> None:
    title = chart_title("NVDA", "sell", 101, 10000, 3, "2022-02-14", "2025-02-11")
    assert title == "NVDA sell signals, 2022-02-14 to 2025-02-11 — h=101, d=10000, r=3"
