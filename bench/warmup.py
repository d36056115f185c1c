"""Figure 4: warm-up to ready with r = 8 from a terminated scale, for each service; and the
repair of that scale when one of its workers is killed.

One API process on a fresh home. Each round terminates the scale (and waits for
/scaled_terminated), then times POST /warmup until /scaled_ready first answers ``true``, polled
every 50 ms (the API's own driver advances a warming scale every 50 ms). Every round must
bring up new processes: the worker pids are compared with the previous round's. The figure is
the median over the rounds; the server's own ``ready_at - requested_at`` is kept beside it.

Repair: on the ready r = 8 scale, each round kills one worker (SIGKILL, a different index each
time) and times from the kill until /scaled_ready first answers ``true`` again, polled every
50 ms: the first poll sees the worker dead and starts its replacement (SPEC §2). Each round
must end with a replacement recorded under /v1/scale, of the killed worker's index.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.api import ApiProcess
from bench.common import Figure, Mode, Row, fmt_seconds, load_average, median

R = 8
TARGET_S = 1.5


def _pids(api: ApiProcess) -> set[int]:
    scale = api.get("/v1/scale")
    return {int(r["pid"]) for r in scale["resources"] if r.get("pid")}


def _repairs(api: ApiProcess, rounds: int) -> list[float]:
    """Kill one worker of the ready scale per round; seconds until it is warm again."""
    seconds = []
    for round_ in range(rounds):
        victim = api.get("/v1/scale")["resources"][round_ % R]
        process = psutil.Process(int(victim["pid"]))
        clock = time.monotonic()
        process.kill()
        with contextlib.suppress(psutil.NoSuchProcess):  # gone: the kill has landed
            while process.status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.001)  # wait until the first poll can see it dead
        seconds.append(api.wait_true("/scaled_ready", "warm", 60.0, 0.05) - clock)
        replaced = [x["resource"] for x in api.get("/v1/scale")["replacements"]]
        if victim["id"] not in replaced:
            raise RuntimeError(f"worker {victim['id']} was not replaced: {replaced}")
    return seconds


def run(mode: Mode) -> Figure:
    figure = Figure("warmup", "4. Warm-up to ready, r=8, from terminated")
    rounds = mode.pick(5, 1)
    with (
        tempfile.TemporaryDirectory(prefix="bench-warmup-") as scratch,
        ApiProcess(Path(scratch)) as api,
    ):
        for service in ("lambda", "ec2"):
            api.warm(service, 1)  # the first start of a service pays imports once; not timed
            previous = _pids(api)
            client_s: list[float] = []
            server_s: list[float] = []
            reused = 0
            load_before = load_average()
            for _ in range(rounds):
                api.terminate()
                client_s.append(api.warm(service, R))
                scale = api.get("/v1/scale")
                server_s.append(float(scale["ready_at"]) - float(scale["requested_at"]))
                pids = _pids(api)
                reused += len(pids & previous)
                previous = pids
            repair_s = _repairs(api, rounds)
            api.terminate()
            raw: dict[str, Any] = {
                "rounds": rounds,
                "client_seconds": client_s,
                "server_seconds": server_s,
                "median_s": median(client_s),
                "reused_pids": reused,
                "load_average_before": load_before,
                "load_average_after": load_average(),
            }
            figure.raw[service] = raw
            figure.rows.append(
                Row(
                    "4",
                    f"warm-up to ready, {service}, r={R}, median of {rounds}"
                    f" (server: {fmt_seconds(median(server_s))})",
                    f"<= {TARGET_S} s",
                    fmt_seconds(raw["median_s"]),
                    passed=raw["median_s"] <= TARGET_S and reused == 0,
                )
            )
            figure.rows.append(
                Row(
                    "4",
                    f"a killed worker replaced until ready again, {service}, r={R},"
                    f" median of {rounds}",
                    f"<= {TARGET_S} s",
                    fmt_seconds(median(repair_s)),
                    passed=median(repair_s) <= TARGET_S,
                )
            )
            raw["repair_seconds"] = repair_s
            if reused:
                figure.notes.append(f"{service}: {reused} worker pid(s) survived a terminate")
        api.error_rows(figure)
    figure.notes.append(
        "Client time: POST /warmup until /scaled_ready is true, polled every 50 ms (so up to "
        "50 ms of it is polling). Server time: the scale's ready_at - requested_at. Repair: "
        "SIGKILL of one worker until /scaled_ready is true again, same polling."
    )
    return figure
