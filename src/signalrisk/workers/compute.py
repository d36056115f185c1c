"""The compute function: Monte Carlo VaR of a batch of signals (AWS Lambda handler).

Payload, as in the source system, with scalars for one signal::

    {"mean": 0.001, "std": 0.03, "shots": 10000}            -> {"var95": -0.048, "var99": -0.069}

or lists for a batch (every signal of an analysis in one call), with optional extras::

    {"mean": [...], "std": [...], "shots": 10000, "seed": 7, "resource_index": 2}
        -> {"var95": [...], "var99": [...], "seed": 7, "resource_index": 2, "resource_id": "...",
            "pid": 1234, "started": <epoch s>, "finished": <epoch s>, "duration_ms": 3.1}

``{"warmup": true}`` only loads the code and answers who ran it. Numbers may be numeric strings.
A run without ``seed`` draws one and returns it, so that every answer can be reproduced.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

import numpy as np

from signalrisk.quant.var import simulate_var

MAX_SHOTS = 10_000_000


def resource_id(context: Any = None) -> str:
    """Who is running: the id a local worker was started with, or Lambda's execution environment."""
    rid = os.environ.get("SIGNALRISK_RESOURCE_ID")
    if rid:
        return rid
    stream = getattr(context, "log_stream_name", None)
    return str(stream) if stream else f"pid-{os.getpid()}"


def _as_floats(value: Any, name: str) -> tuple[np.ndarray[Any, np.dtype[np.float64]], bool]:
    scalar = not isinstance(value, list)
    items = [value] if scalar else value
    if any(isinstance(item, bool) for item in items):  # JSON true/false is not a number
        raise ValueError(f"{name} must be a number or a list of numbers")
    try:
        array = np.asarray(items, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a number or a list of numbers") from exc
    if array.ndim != 1 or not bool(np.all(np.isfinite(array))):
        raise ValueError(f"{name} must hold finite numbers")
    return array, scalar


def _as_int(value: Any, name: str, low: int, high: int) -> int:
    """An integer from an int, an integral float or a numeric string; ValueError otherwise."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if number is None or not low <= number <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return number


def compute(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Run one batch; raises ValueError with the field's name on a bad payload."""
    started = time.time()
    clock = time.perf_counter()
    who = {"resource_id": resource_id(context), "pid": os.getpid()}
    warmup = event.get("warmup")
    if warmup is not None and not isinstance(warmup, bool):  # "false" is not false
        raise ValueError("warmup must be true or false")
    if warmup:
        return {"warm": True, **who, "started": started, "duration_ms": 0.0}
    means, scalar = _as_floats(event.get("mean"), "mean")
    stds, _ = _as_floats(event.get("std"), "std")
    if means.shape != stds.shape:
        raise ValueError("mean and std must have the same length")
    if bool(np.any(stds < 0)):
        raise ValueError("std must be >= 0")
    shots = _as_int(event.get("shots"), "shots", 1, MAX_SHOTS)
    seed_value = event.get("seed")
    seed = secrets.randbits(63) if seed_value is None else _as_int(seed_value, "seed", 0, 2**63 - 1)
    index = _as_int(event.get("resource_index", 0), "resource_index", 0, 1_000_000)
    estimates = simulate_var(means, stds, shots, seed, index)
    if not (np.all(np.isfinite(estimates.var95)) and np.all(np.isfinite(estimates.var99))):
        raise ValueError("mean and std are too large: the VaR overflows a float")
    var95 = estimates.var95.tolist()
    var99 = estimates.var99.tolist()
    return {
        "var95": var95[0] if scalar else var95,
        "var99": var99[0] if scalar else var99,
        "seed": seed,
        "resource_index": index,
        **who,
        "started": started,
        "finished": time.time(),
        "duration_ms": (time.perf_counter() - clock) * 1000.0,
    }


def preload_kernel() -> None:
    """Load (or compile) the Monte Carlo kernel once, so that the first batch does not pay."""
    simulate_var(np.zeros(1), np.ones(1), 100, 0)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point: ``signalrisk.workers.compute.handler``."""
    return compute(event, context)
