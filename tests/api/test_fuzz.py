"""Schemathesis against the served OpenAPI document: every operation, every check, no 5xx.

A real API process (``tests.server.ApiServer``) runs with small limits, so that whatever the
fuzzer sends is cheap: r at most 2, d at most 2000, d x r x signals at most 100,000, short
deadlines. It is warm before the fuzzing starts, and made warm again before each example of an
operation that needs a warm scale, so that ``POST /analyse`` and the compute function are
exercised past 409 ``not_warm`` (the fuzzed ``/terminate`` and ``/warmup`` change the scale).

Each operation goes through schemathesis' examples, coverage and fuzzing phases (positive and
negative data, at least ``EXAMPLES`` generated cases where there is any input to vary) with
every built-in check; then the stateful phase follows the document's links (``POST /analyse``
-> ``GET /v1/runs/{run_id}`` ...) and the ones schemathesis infers. Values of this deployment
(its tickers, dates, in-range h, d and p) are offered as dictionaries, taken half of the time,
so that analyses succeed often enough for their links to be followed; the other half is
schemathesis' own. Generation is derandomized with a fixed seed and no example database: a run
is reproducible and leaves nothing in the repository. The last test checks the coverage and
that the API logged no unexpected failure.

One check is narrowed, on three operations only: see ``within_documented_ranges``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.generation.stateful.state_machine import APIStateMachine, StepInput, StepOutput

from tests.server import ApiServer

SEED = 20250212
EXAMPLES = 100
SCENARIOS, STEPS = 40, 8  # the stateful phase: scenarios, and at most this many calls each
SMALL = {
    "SIGNALRISK_LIMITS__MAX_R_LAMBDA": "2",
    "SIGNALRISK_LIMITS__MAX_R_EC2": "2",
    "SIGNALRISK_LIMITS__MAX_D": "2000",
    "SIGNALRISK_LIMITS__MAX_WORK": "100000",
    "SIGNALRISK_WARMUP_DEADLINE_S": "20",
    "SIGNALRISK_WORKER_CALL_TIMEOUT_S": "20",
}
ANALYSE, COMPUTE = "POST /analyse", "POST /v1/functions/compute/invocations"
NEEDS_WARM = {ANALYSE: None, COMPUTE: "lambda"}  # the service it needs, None for any

# Valid by the schema yet refused, legitimately, with 422 naming the field: ranges that depend
# on configuration (r's maximum per service, d's maximum, d x r x signals) or on the data
# window (h and p up to the window's rows, the ticker's dates, start before end), which JSON
# Schema cannot state, and which numbers sent as strings (SPEC §2) escape anyway. The bounds
# that never change are in the schema (minimum of r, h, d, p; the seed's range; s and t).
RANGES = {
    "POST /warmup": {"r"},
    ANALYSE: {"h", "d", "p", "seed", "ticker", "start", "end"},
}
RANGE_CODES = {"invalid_parameter", "limit_exceeded", "unknown_ticker"}
# The compute function reads its own payload (the source system's Lambda payload): the values
# it refuses (strings that are not numbers, mean and std of different lengths, a VaR that
# overflows) are 422 with its message, as the operation documents.
HANDLER_REFUSAL = "compute handler error: "
NARROWED = sorted({*RANGES, COMPUTE})

CALLS: Counter[str] = Counter()  # operation label -> cases sent, per-operation phases
ANSWERED: Counter[tuple[str, int]] = Counter()  # (operation, status) -> cases that passed
STATEFUL: Counter[tuple[str, str, int]] = Counter()  # (via, operation, status) -> calls


# -- the API and its document ------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis' own files (its cache of the test code's constants) in a temporary
    directory, not ``.hypothesis`` in the repository; the example database is off anyway."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(Path(tmp_path_factory.mktemp("fuzz-home")), env=SMALL)
    server.start()
    server.warm("lambda", 1)
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


def config(info: dict[str, Any]) -> SchemathesisConfig:
    """All phases and checks, ``EXAMPLES`` cases, reproducible; this deployment's values."""
    tickers = info["tickers"]
    first = max(t["first"] for t in tickers)  # dates that every ticker has
    last = min(t["last"] for t in tickers)
    max_d = info["limits"]["max_d"]
    values = {
        "tickers": [t["ticker"] for t in tickers],
        "starts": [first, f"{last[:4]}-01-02", f"{int(last[:4]) - 2}{last[4:]}"],
        "ends": [last, f"{last[:4]}-06-28"],
        "histories": [3, 20, 101, "101", " 30 "],
        "shots": [1, 10, max_d, str(max_d // 4)],
        "horizons": [1, 7, "7"],
    }
    fields = {"ticker": "tickers", "start": "starts", "end": "ends"}
    fields |= {"h": "histories", "d": "shots", "p": "horizons"}
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"max-steps": STEPS}},
            "dictionaries": {name: {"values": v} for name, v in values.items()},
            "operations": [
                {
                    "include-name": ANALYSE,
                    "parameters": {
                        f"body.{field}": {"dictionary": name, "probability": 0.5}
                        for field, name in fields.items()
                    },
                },
                {  # replaced on these by ``within_documented_ranges``
                    "include-name": NARROWED,
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_api: ApiServer) -> Any:
    """The document the running API serves (loaded when the first test needs it)."""
    info = fuzz_api.get("/v1/info").json()
    return schemathesis.openapi.from_url(f"{fuzz_api.url}/openapi.json", config=config(info))


def ensure_ready(api: ApiServer, service: str | None, r: int | None = None) -> None:
    """Wait for a ready scale (of ``service`` and ``r`` if given), warming one if need be."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        scale = api.get("/v1/scale").json()
        state, ready = scale["state"], all(x["state"] == "ready" for x in scale["resources"])
        if (
            state == "ready"
            and ready
            and service in (None, scale["service"])
            and r in (None, scale["r"])
        ):
            return
        if state in ("cold", "failed") or (state == "ready" and ready):
            api.post("/warmup", {"s": service or "lambda", "r": r or 1})
        time.sleep(0.05)
    raise AssertionError(f"no ready scale within 60 s: {api.get('/v1/scale').text}")


# -- the one narrowed check ----------------------------------------------------------------------


def refused_for_range(label: str, response: Any) -> bool:
    """Whether ``response`` is a 422 refusing a value outside a range the schema cannot state."""
    if response.status_code != 422:
        return False
    error = response.json()["error"]
    if label == COMPUTE:
        return bool(
            error["code"] == "invalid_parameter" and error["message"].startswith(HANDLER_REFUSAL)
        )
    return error["code"] in RANGE_CODES and error.get("field") in RANGES[label]


def within_documented_ranges(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """``positive_data_acceptance``, except that a schema-valid request may be refused with
    422 for a value outside a range that the schema cannot state (``RANGES``, the compute
    function's own refusals). Any other refusal (of a type or a shape, or of another field)
    fails as the built-in check does."""
    try:
        return schemathesis.checks.positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]
    except Failure:
        if refused_for_range(case.operation.label, response):
            return None
        raise


def extra_checks(case: schemathesis.Case) -> list[Any]:
    return [within_documented_ranges] if case.operation.label in NARROWED else []


# -- every operation -----------------------------------------------------------------------------

# schemathesis 4.32's lazy loader reads and rewrites ``request.node._nodeid`` to label its
# subtests; pytest 9.2 no longer has that attribute. Reading gives the node id and a rewrite is
# dropped: the subtests still carry the operation's label.
if not hasattr(pytest.Function, "_nodeid"):
    pytest.Function._nodeid = property(  # type: ignore[attr-defined]
        lambda self: self.nodeid, lambda self, value: None
    )

lazy_schema = schemathesis.pytest.from_fixture("fuzz_schema")


@lazy_schema.parametrize()
def test_fuzz_every_operation_no_server_error(case: schemathesis.Case, fuzz_api: ApiServer) -> None:
    label = case.operation.label
    if label in NEEDS_WARM:
        ensure_ready(fuzz_api, NEEDS_WARM[label])
    CALLS[label] += 1
    response = case.call_and_validate(additional_checks=extra_checks(case))
    ANSWERED[label, response.status_code] += 1


# -- links -----------------------------------------------------------------------------------------


def test_fuzz_stateful_links_no_server_error(fuzz_schema: Any, fuzz_api: ApiServer) -> None:
    machine: type[APIStateMachine] = fuzz_schema.as_state_machine()

    class Links(machine):  # type: ignore[valid-type, misc]
        def setup(self) -> None:
            # lambda r=1: the scale the dictionaries' in-range values are in range for
            ensure_ready(fuzz_api, "lambda", 1)

        def step(self, input: StepInput) -> StepOutput:
            output = super().step(input)
            via = "start"
            if input.transition is not None and input.is_applied:
                kind = "inferred" if input.transition.is_inferred else "link"
                via = f"{kind} {input.transition.id}"
            STATEFUL[via, input.case.operation.label, output.response.status_code] += 1
            return output

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            kwargs["additional_checks"] = extra_checks(case)
            super().validate_response(response, case, **kwargs)

    Links.run(
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )


# -- what was covered ------------------------------------------------------------------------------


def test_fuzz_covered_every_operation_and_logged_no_failure(
    fuzz_schema: Any, fuzz_api: ApiServer
) -> None:
    """After the two above: every operation was called, those with an input to vary at least
    ``EXAMPLES`` times, and analyses and the compute function ran; each documented link was
    followed from a real analysis; and the API logged no error (an unexpected failure is
    logged with its traceback: none was answered)."""
    document = fuzz_api.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            varies = "requestBody" in operation or operation.get("parameters")
            assert CALLS[label] >= (EXAMPLES if varies else 1), (label, CALLS[label])
    assert ANSWERED[ANALYSE, 200] and ANSWERED[COMPUTE, 200], ANSWERED  # past 409 not_warm
    links = document["paths"]["/analyse"]["post"]["responses"]["200"]["links"]
    followed: Counter[str] = Counter()
    for (via, _, status), calls in STATEFUL.items():
        if via.startswith("link ") and status == 200:
            followed[via.split(" -> ")[1]] += calls
    assert set(followed) == {f"[200] {name}" for name in links}, (followed, STATEFUL)
    log = fuzz_api.log.read_text()
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    print(
        f"\n{sum(CALLS.values())} cases over {len(CALLS)} operations, then"
        f" {sum(STATEFUL.values())} stateful calls: {dict(followed)}; {dict(ANSWERED)}"
    )
