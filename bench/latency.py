"""Figure 2: /analyse latency of the standard request on a warm local scale, both services.

One API process (``signalrisk serve``, as ``make run`` starts it) on a fresh home with the
bundled data. For each service: warm up ``r = 3``, send a few untimed requests, then
``requests`` sequential POST /analyse of the standard request (default NVDA window, h=101,
d=10000, t=sell, p=7) from one keep-alive client, each with a fresh seed. The latency is the
client's wall time from sending the request to reading the answer; p50 and p95 are over all
timed requests. The first answer's total P/L is checked against SPEC §3 (-39.763).

The reference column is the seed's kernel alone doing the same draws (36 signals x d x r),
extrapolated from figure 1's single-core rate spread over every core: a lower bound for the
seed's latency, since it leaves out everything but the sort.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.api import ApiProcess
from bench.common import Figure, Mode, Row, fmt_ratio, fmt_seconds, load_average, percentile

STANDARD = {"h": "101", "d": "10000", "t": "sell", "p": "7"}
SIGNALS, R, D = 36, 3, 10_000
P50_TARGET, P95_TARGET = 0.015, 0.030


def run(mode: Mode, reference_rate: float | None) -> Figure:
    figure = Figure("latency", "2. /analyse latency, standard request, warm scale")
    requests = mode.pick(200, 20)
    untimed = mode.pick(10, 3)
    ref_s = SIGNALS * D * R / (reference_rate * (os.cpu_count() or 1)) if reference_rate else None
    with (
        tempfile.TemporaryDirectory(prefix="bench-latency-") as scratch,
        ApiProcess(Path(scratch)) as api,
    ):
        for service in ("lambda", "ec2"):
            api.warm(service, R)
            for k in range(untimed):
                api.analyse({**STANDARD, "seed": str(1000 + k)})
            total = api.get("/get_tot_profit_loss")["profit_loss"]
            load_before = load_average()
            times = [api.analyse({**STANDARD, "seed": str(2000 + k)})[0] for k in range(requests)]
            raw: dict[str, Any] = {
                "requests": requests,
                "seconds": times,
                "p50_s": percentile(times, 50),
                "p95_s": percentile(times, 95),
                "max_s": max(times),
                "total_profit_loss": total,
                "load_average_before": load_before,
                "load_average_after": load_average(),
            }
            figure.raw[service] = raw
            api.terminate()
            for q, target in ((50, P50_TARGET), (95, P95_TARGET)):
                value = raw[f"p{q}_s"]
                figure.rows.append(
                    Row(
                        "2",
                        f"/analyse p{q}, {service}, r=3, {requests} requests",
                        f"<= {target * 1000:.0f} ms",
                        fmt_seconds(value),
                        f"{fmt_seconds(ref_s)} (seed kernel only, extrapolated)" if ref_s else "",
                        fmt_ratio(ref_s / value) if ref_s else "",
                        value <= target,
                    )
                )
            if abs(total - (-39.763)) > 0.0005:
                figure.notes.append(f"{service}: total P/L {total}, SPEC §3 says -39.763")
        api.error_rows(figure)
    figure.notes.append(
        "Sequential requests from one keep-alive httpx client; each has its own seed, so no "
        "answer can come from a cache. The API is one uvicorn process (make run)."
    )
    return figure
