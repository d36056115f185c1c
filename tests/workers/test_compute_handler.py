"""The compute Lambda handler (``signalrisk.workers.compute``): payloads, numbers, errors."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from signalrisk.quant.var import simulate_var
from signalrisk.workers.compute import MAX_SHOTS, compute, handler, resource_id

MEANS = [0.001, -0.002, 0.0005]
STDS = [0.02, 0.035, 0.01]


def test_handle_scalar_payload_returns_scalar_vars() -> None:
    answer = handler({"mean": 0.001, "std": 0.03, "shots": 10000})
    assert isinstance(answer["var95"], float) and isinstance(answer["var99"], float)
    # The 5th and 1st percentiles of Normal(0.001, 0.03), within a few standard errors.
    assert answer["var95"] == pytest.approx(0.001 - 1.6449 * 0.03, abs=6 * 2.113 * 0.03 / 100)
    assert answer["var99"] == pytest.approx(0.001 - 2.3263 * 0.03, abs=6 * 3.733 * 0.03 / 100)
    assert answer["var99"] < answer["var95"]


def test_handle_scalar_payload_equals_simulate_var_for_its_seed() -> None:
    answer = handler({"mean": 0.001, "std": 0.03, "shots": 5000, "seed": 11})
    expected = simulate_var(np.array([0.001]), np.array([0.03]), 5000, 11, 0)
    assert answer["var95"] == float(expected.var95[0])
    assert answer["var99"] == float(expected.var99[0])
    assert answer["seed"] == 11 and answer["resource_index"] == 0


def test_handle_numeric_strings_accepted_as_numbers() -> None:
    as_numbers = handler({"mean": 0.001, "std": 0.03, "shots": 2000, "seed": 5})
    as_strings = handler({"mean": "0.001", "std": "0.03", "shots": "2000", "seed": "5"})
    assert as_strings["var95"] == as_numbers["var95"]
    assert as_strings["var99"] == as_numbers["var99"]
    listed = handler({"mean": ["0.001"], "std": ["0.03"], "shots": " 2000 ", "seed": 5})
    assert listed["var95"] == [as_numbers["var95"]]


def test_handle_integral_float_shots_accepted() -> None:
    answer = handler({"mean": 0.0, "std": 0.01, "shots": 1000.0, "seed": 1})
    assert answer["var95"] == handler({"mean": 0.0, "std": 0.01, "shots": 1000, "seed": 1})["var95"]


@pytest.mark.parametrize("index", [0, 2])
def test_handle_batch_payload_equals_simulate_var(index: int) -> None:
    payload = {"mean": MEANS, "std": STDS, "shots": 20000, "seed": 7, "resource_index": index}
    answer = handler(payload)
    expected = simulate_var(np.array(MEANS), np.array(STDS), 20000, 7, index)
    assert answer["var95"] == expected.var95.tolist()
    assert answer["var99"] == expected.var99.tolist()
    assert answer["seed"] == 7 and answer["resource_index"] == index
    assert answer["finished"] >= answer["started"] and answer["duration_ms"] >= 0.0


def test_handle_batch_payload_resource_index_changes_stream() -> None:
    base = {"mean": MEANS, "std": STDS, "shots": 5000, "seed": 7}
    first = handler({**base, "resource_index": 0})
    second = handler({**base, "resource_index": 1})
    assert first["var95"] != second["var95"]


def test_handle_empty_batch_returns_empty_lists() -> None:
    answer = handler({"mean": [], "std": [], "shots": 100, "seed": 1})
    assert answer["var95"] == [] and answer["var99"] == []


def test_handle_payload_without_seed_generates_reproducible_seed() -> None:
    payload: dict[str, Any] = {"mean": MEANS, "std": STDS, "shots": 3000}
    first = handler(payload)
    second = handler(payload)
    assert isinstance(first["seed"], int) and 0 <= first["seed"] < 2**63
    assert first["seed"] != second["seed"]
    again = handler({**payload, "seed": first["seed"]})
    assert again["var95"] == first["var95"] and again["var99"] == first["var99"]


def test_handle_warmup_payload_answers_without_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALRISK_RESOURCE_ID", "lambda-abc-1")
    answer = handler({"warmup": True})
    assert answer["warm"] is True
    assert answer["resource_id"] == "lambda-abc-1"
    assert "var95" not in answer and isinstance(answer["pid"], int)


def test_resolve_resource_id_from_environment_then_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SIGNALRISK_RESOURCE_ID", raising=False)
    context = SimpleNamespace(log_stream_name="2025/01/01/[$LATEST]abcdef")
    assert resource_id(context) == "2025/01/01/[$LATEST]abcdef"
    assert resource_id(None).startswith("pid-")
    monkeypatch.setenv("SIGNALRISK_RESOURCE_ID", "w-9")
    assert resource_id(context) == "w-9"
    assert compute({"mean": 0.0, "std": 0.01, "shots": 10}, context)["resource_id"] == "w-9"


GOOD: dict[str, Any] = {"mean": [0.001, 0.002], "std": [0.02, 0.03], "shots": 1000, "seed": 3}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"shots": None}, "shots"),
        ({"shots": 0}, "shots"),
        ({"shots": -5}, "shots"),
        ({"shots": MAX_SHOTS + 1}, "shots"),
        ({"shots": True}, "shots"),
        ({"shots": 10.5}, "shots"),
        ({"shots": "many"}, "shots"),
        ({"shots": float("nan")}, "shots"),
        ({"shots": [1000]}, "shots"),
        ({"mean": [0.001]}, "mean"),
        ({"std": [0.02, 0.03, 0.04]}, "std"),
        ({"std": [0.02, -0.03]}, "std"),
        ({"mean": ["abc", 0.001]}, "mean"),
        ({"mean": None}, "mean"),
        ({"mean": {"a": 1}}, "mean"),
        ({"mean": [[0.001, 0.002]]}, "mean"),
        ({"std": "wide"}, "std"),
        ({"mean": [float("nan"), 0.001]}, "mean"),
        ({"std": [0.02, float("inf")]}, "std"),
        ({"mean": [10**400, 0.001]}, "mean"),
        ({"mean": [True, 0.001]}, "mean"),
        ({"std": False}, "std"),
        ({"mean": [-1e308, 0.0], "std": [1e308, 0.01]}, "mean and std"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"seed": "lucky"}, "seed"),
        ({"resource_index": -1}, "resource_index"),
        ({"resource_index": "first"}, "resource_index"),
    ],
)
def test_handle_bad_payload_raises_value_error_naming_field(
    change: dict[str, Any], field: str
) -> None:
    payload = {**GOOD, **change}
    if change.get("shots", 0) is None:
        del payload["shots"]
    with pytest.raises(ValueError, match=field):
        handler(payload)


def test_handle_missing_shots_raises_value_error() -> None:
    with pytest.raises(ValueError, match="shots"):
        handler({"mean": 0.001, "std": 0.02})


def test_handle_max_shots_accepted() -> None:
    answer = handler({"mean": 0.0, "std": 0.02, "shots": str(MAX_SHOTS), "seed": 1})
    assert math.isclose(answer["var95"], -1.6449 * 0.02, rel_tol=1e-2)
