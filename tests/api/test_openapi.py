"""``/openapi.json`` (and so ``/docs``) documents every operation with examples, and they are true.

Complete: every operation has a summary and a description, an example for its request body and
for each response it documents, the errors in the one error shape with codes of the error
hierarchy at the status the API gives them. True: the examples validate against their own
schemas; a real workflow on the module's API answers every operation with the documented keys
(and, for the seed's figures, the documented numbers), its answers validate against the
documented schemas; and the errors that can be provoked answer exactly a documented body.

The served document drops the nulls of examples (FastAPI removes every None, fastapi/fastapi#5559)
unless ``app.py`` installs ``keep_null_examples``; the in-process document below has it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from jsonschema import Draft202012Validator
from starlette.exceptions import StarletteDeprecationWarning

from signalrisk.api import examples as ex
from signalrisk.api import limits
from signalrisk.api.app import create_app
from signalrisk.api.errors import status_of
from signalrisk.api.routes_seed import router as seed_router
from signalrisk.api.routes_v1 import router as v1_router
from signalrisk.api.schemas import ErrorCode
from signalrisk.core import errors
from signalrisk.core.config import Settings
from tests.server import ApiServer

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its TestClient; httpx is what is installed.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

Spec = dict[str, Any]
Operation = tuple[str, str, dict[str, Any]]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
UNDOCUMENTED = {("get", "/health")}  # app.py's; see test_health_is_documented
# Statuses chosen outside errors.STATUS: the body size limit answers limit_exceeded with 413.
OTHER_STATUSES = {(limits.TOO_LARGE, "limit_exceeded")}
FULL, READ = "full-token-" + "x" * 20, "read-token-" + "y" * 20


def error_classes(cls: type[errors.SignalRiskError]) -> Iterator[type[errors.SignalRiskError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from error_classes(sub)


HIERARCHY = {cls.code: status_of(cls("")) for cls in error_classes(errors.SignalRiskError)}


# -- the documents and how to read them -----------------------------------------------------


@pytest.fixture(scope="module")
def served(api: ApiServer) -> Spec:
    """The document the running API serves."""
    response = api.get("/openapi.json")
    assert response.status_code == 200
    spec: Spec = response.json()
    return spec


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> Spec:
    """The same document built in process with the examples' nulls kept."""
    app = create_app(Settings(home=tmp_path_factory.mktemp("home-docs")))
    ex.keep_null_examples(app, seed_router, v1_router)
    return app.openapi()


def operations(spec: Spec) -> list[Operation]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if (method, path) not in UNDOCUMENTED
    ]


def examples_of(content: dict[str, Any]) -> dict[str, Any]:
    """A media type's examples by name ('' for a lone ``example``)."""
    if "example" in content:
        return {"": content["example"]}
    return {name: e["value"] for name, e in content.get("examples", {}).items()}


def ok_examples(op: dict[str, Any]) -> dict[str, Any]:
    return examples_of(op["responses"]["200"]["content"]["application/json"])


def validator(spec: Spec, schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema`` whose ``#/components/...`` references resolve in ``spec``."""
    return Draft202012Validator({**schema, "components": spec["components"]})


def concrete(path: str, run_id: str) -> str:
    return path.replace("{run_id}", run_id)


# -- complete ----------------------------------------------------------------------------------


def test_every_operation_has_summary_description_and_examples(served: Spec) -> None:
    assert len(operations(served)) >= 24  # the 15 seed endpoints and the /v1 ones
    for method, path, op in operations(served):
        where = f"{method.upper()} {path}"
        assert op.get("summary") and op.get("description"), where
        for media_type, content in op.get("requestBody", {}).get("content", {}).items():
            assert examples_of(content), f"{where}: no example for its {media_type} body"
        assert "200" in op["responses"], where
        assert "default" in op["responses"], f"{where}: 500 undocumented"
        for status, response in op["responses"].items():
            assert response.get("description"), (where, status)
            assert response.get("content"), (where, status)
            for media_type, content in response["content"].items():
                assert "schema" in content, (where, status, media_type)
                if media_type.startswith("image/"):  # binary: its schema says so
                    assert content["schema"].get("format") == "binary", (where, status)
                else:
                    assert examples_of(content), f"{where}: no example for {status} {media_type}"


def test_every_operation_documents_access_errors(served: Spec) -> None:
    for method, path, op in operations(served):
        assert "401" in op["responses"], f"{method.upper()} {path}"
        if method == "post":  # every POST spends money or changes the scale
            assert "403" in op["responses"], f"{method.upper()} {path}"


def test_error_examples_have_the_one_shape_and_real_codes_at_their_status(served: Spec) -> None:
    for method, path, op in operations(served):
        for status, response in op["responses"].items():
            if status == "200":
                continue
            content = response["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
            for name, body in examples_of(content).items():
                where = f"{method.upper()} {path} {status} {name}"
                assert set(body) == {"error"}, where
                error = body["error"]
                assert {"code", "message"} <= set(error) <= {"code", "message", "field"}, where
                assert isinstance(error["message"], str) and error["message"], where
                code = error["code"]
                assert code in HIERARCHY, f"{where}: {code!r} is not a code of the hierarchy"
                if status == "default":
                    assert HIERARCHY[code] >= 500, where
                elif (int(status), code) not in OTHER_STATUSES:
                    assert int(status) == HIERARCHY[code], f"{where}: {code} is {HIERARCHY[code]}"


def test_error_code_enum_lists_every_code() -> None:
    assert set(get_args(ErrorCode)) == set(HIERARCHY) | {"method_not_allowed"}


def test_health_is_documented(served: Spec) -> None:
    op = served["paths"]["/health"]["get"]
    assert ok_examples(op) == {"": ex.HEALTH} and "default" in op["responses"]


def test_served_document_is_valid_openapi(served: Spec) -> None:
    validation = pytest.importorskip("openapi_spec_validator")
    validation.validate(served)


def test_examples_validate_against_their_schemas(documented: Spec) -> None:
    checked = 0
    for method, path, op in operations(documented):
        contents = [("body", op["requestBody"]["content"])] if "requestBody" in op else []
        contents += [(status, r["content"]) for status, r in op["responses"].items()]
        for where, content in contents:
            media = content.get("application/json")
            if media is None:
                continue
            check = validator(documented, media["schema"])
            for name, value in examples_of(media).items():
                problems = [e.message for e in check.iter_errors(value)]
                assert not problems, (method.upper(), path, where, name, problems[:3])
                checked += 1
    assert checked > 100


def test_served_examples_differ_from_the_code_only_by_dropped_nulls(
    served: Spec, documented: Spec
) -> None:
    for method, path, op in operations(documented):
        for status, response in op["responses"].items():
            for media_type, content in response["content"].items():
                served_content = served["paths"][path][method]["responses"][status]["content"]
                for name, value in examples_of(content).items():
                    assert without_nulls(value) == without_nulls(
                        examples_of(served_content[media_type])[name]
                    ), (method, path, status, name)


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


# -- true: a real workflow ---------------------------------------------------------------------


def assert_same_keys(example: Any, real: Any, where: str) -> None:
    """The example has the real answer's keys, at every level (first item of a list)."""
    if isinstance(example, dict) and isinstance(real, dict):
        assert set(example) == set(real), (where, set(example) ^ set(real))
        for key in example:
            assert_same_keys(example[key], real[key], f"{where}.{key}")
    elif isinstance(example, list) and isinstance(real, list) and example and real:
        assert_same_keys(example[0], real[0], f"{where}[0]")


def assert_served_keys(example: Any, real: Any, where: str) -> None:
    """As ``assert_same_keys`` for a served example: a key may lack where the answer is null."""
    if isinstance(example, dict) and isinstance(real, dict):
        assert set(example) <= set(real), (where, set(example) - set(real))
        assert all(real[k] is None for k in set(real) - set(example)), where
        for key in example:
            assert_served_keys(example[key], real[key], f"{where}.{key}")
    elif isinstance(example, list) and isinstance(real, list) and example and real:
        assert_served_keys(example[0], real[0], f"{where}[0]")


def check_answer(
    spec: Spec, served: Spec, method: str, path: str, response: httpx.Response, name: str = ""
) -> None:
    """A 200 JSON answer: the documented example's keys, and the documented schema."""
    where = f"{method.upper()} {path}"
    assert response.status_code == 200, (where, response.text)
    real = response.json()
    content = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    named = examples_of(content)
    example = named[name] if name in named else named[""]
    assert_same_keys(example, real, where)
    served_named = ok_examples(served["paths"][path][method])
    assert_served_keys(served_named.get(name, served_named.get("")), real, where)
    problems = [e.message for e in validator(spec, content["schema"]).iter_errors(real)]
    assert not problems, (where, problems[:3])


def post_each_example(api: ApiServer, spec: Spec, served: Spec, path: str) -> list[httpx.Response]:
    """POST every request example of ``path``; each answer is checked against the response
    example of the same name (or the lone one)."""
    op = spec["paths"][path]["post"]
    answers = []
    for name, body in examples_of(op["requestBody"]["content"]["application/json"]).items():
        response = api.post(path, body)
        check_answer(spec, served, "post", path, response, name)
        answers.append(response)
    return answers


def make_cold(api: ApiServer) -> None:
    assert api.get("/reset").status_code == 200
    api.terminate()


def test_documented_answers_match_a_real_workflow(
    api: ApiServer, documented: Spec, served: Spec
) -> None:
    make_cold(api)
    spec = documented
    try:
        post_each_example(api, spec, served, "/warmup")
        api.wait_for("/scaled_ready", "warm")
        # The last example spells out the seed of the documented figures (seed 42).
        run_id = post_each_example(api, spec, served, "/analyse")[-1].json()["run_id"]
        post_each_example(api, spec, served, "/v1/functions/compute/invocations")
        gets = [path for method, path, _ in operations(spec) if method == "get"]
        assert len(gets) >= 20
        last = ["/reset", "/terminate", "/scaled_terminated"]  # they change the state
        for path in [p for p in gets if p not in last] + last:
            response = api.get(concrete(path, run_id))
            if path.endswith(".png"):
                assert response.status_code == 200
                assert response.headers["content-type"] == "image/png"
                assert response.content.startswith(PNG_MAGIC)
            elif path.endswith(".csv"):
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/csv")
                documented_csv = examples_of(
                    spec["paths"][path]["get"]["responses"]["200"]["content"]["text/csv"]
                )[""]
                assert response.text.splitlines()[0] == documented_csv.splitlines()[0]
            elif path == "/get_endpoints":
                assert response.json() == {
                    url.replace(ex.API, api.url): curl.replace(ex.API, api.url)
                    for url, curl in ok_examples(spec["paths"][path]["get"])[""].items()
                }
            else:
                check_answer(spec, served, "get", path, response)
            if path == "/get_sig_vars9599":
                check_seed_figures(api)
    finally:
        api.terminate()


def check_seed_figures(api: ApiServer) -> None:
    """The documented figures are those of the documented request (seed 42, r=3): P/L exactly
    (to the example's rounding), VaR to within Monte Carlo noise of d=10000, r=3."""
    sig = api.get("/get_sig_vars9599").json()
    pl = api.get("/get_sig_profit_loss").json()["profit_loss"]
    assert len(sig["var95"]) == len(ex.VAR95) == len(pl) == len(ex.PROFIT_LOSS) == 36
    assert pl == pytest.approx(ex.PROFIT_LOSS, abs=6e-4)
    assert api.get("/get_tot_profit_loss").json()["profit_loss"] == pytest.approx(
        ex.TOTAL_PL, abs=1e-3
    )
    assert sig["var95"] == pytest.approx(ex.VAR95, abs=0.006)
    assert sig["var99"] == pytest.approx(ex.VAR99, abs=0.006)
    assert max(sig["var95"]) < 0 and max(sig["var99"]) < 0
    avg = api.get("/get_avg_vars9599").json()
    assert (avg["var95"], avg["var99"]) == pytest.approx((ex.AV95, ex.AV99), abs=0.002)


# -- true: the errors that can be provoked -------------------------------------------------------

STANDARD = {"h": "101", "d": "10000", "t": "sell", "p": "7"}
COLD_ERRORS: list[tuple[str, str, Any, int]] = [
    # method, path, JSON body (bytes: sent raw), status
    ("get", "/get_warmup_cost", None, 409),
    *[
        ("get", path, None, 409)
        for path in (
            "/get_sig_vars9599",
            "/get_avg_vars9599",
            "/get_sig_profit_loss",
            "/get_tot_profit_loss",
            "/get_chart_url",
            "/get_time_cost",
            "/v1/runs/last",
        )
    ],
    ("post", "/analyse", STANDARD, 409),
    ("post", "/analyse", {**STANDARD, "h": "2"}, 422),
    ("post", "/analyse", {**STANDARD, "p": "751"}, 422),
    ("post", "/analyse", {**STANDARD, "d": "0"}, 422),
    ("post", "/analyse", {**STANDARD, "t": "hold"}, 422),
    ("post", "/analyse", {**STANDARD, "start": "2025-01-02", "end": "2025-01-01"}, 422),
    ("post", "/analyse", {"h": "101", "t": "sell", "p": "7"}, 422),
    ("post", "/analyse", {**STANDARD, "h": "abc"}, 422),
    ("post", "/analyse", {**STANDARD, "ticker": "ZZZZ"}, 422),
    ("post", "/warmup", {"s": "gpu", "r": "3"}, 422),
    ("post", "/warmup", {"s": "lambda", "r": str(ex.LIMITS.max_r_lambda + 1)}, 422),
    ("post", "/warmup", {"s": "lambda", "r": "three"}, 422),
    ("post", "/warmup", {"s": "lambda"}, 422),
    *[("post", path, b"{bad", 422) for path in ("/warmup", "/analyse")],
    *[("post", path, b"[1]", 422) for path in ("/warmup", "/analyse")],
    ("post", "/analyse", b" " * (ex.LIMITS.max_body_bytes + 1), 413),
    ("post", "/v1/functions/compute/invocations", b"{bad", 422),
    ("post", "/v1/functions/compute/invocations", {"mean": 0.001, "std": 0.02}, 409),
    ("get", f"/v1/runs/{ex.UNKNOWN_RUN}", None, 404),
    ("get", f"/v1/runs/{ex.UNKNOWN_RUN}/signals.csv", None, 404),
    ("get", f"/v1/runs/{ex.UNKNOWN_RUN}/chart.png", None, 404),
    ("get", "/v1/runs?limit=0", None, 422),
    ("get", "/v1/audit?offset=-1", None, 422),
]


def operation_path(spec: Spec, method: str, url: str) -> str:
    """The documented path template that ``url`` is an instance of."""
    path = url.split("?")[0].replace(ex.UNKNOWN_RUN, "{run_id}")
    assert method in spec["paths"].get(path, {}), url
    return path


def test_documented_errors_are_the_ones_answered(api: ApiServer, documented: Spec) -> None:
    make_cold(api)
    for method, url, body, status in COLD_ERRORS:
        if method == "get":
            response = api.get(url)
        elif isinstance(body, bytes):
            response = httpx.post(f"{api.url}{url}", content=body, timeout=60)
        else:
            response = api.post(url, body)
        assert response.status_code == status, (method, url, response.text)
        op = documented["paths"][operation_path(documented, method, url)][method]
        bodies = examples_of(op["responses"][str(status)]["content"]["application/json"])
        assert response.json() in bodies.values(), (
            f"{method.upper()} {url} answered {response.json()}, which is not among the"
            " documented examples: update signalrisk/api/examples.py"
        )


def test_documented_compute_refusal_is_the_one_answered(api: ApiServer, documented: Spec) -> None:
    path = "/v1/functions/compute/invocations"
    op = documented["paths"][path]["post"]
    api.warm("lambda", 1)
    try:
        response = api.post(path, {"mean": "nan", "std": 0.02, "shots": 10})
        assert response.status_code == 422, response.text
        bodies = examples_of(op["responses"]["422"]["content"]["application/json"])
        assert response.json() in bodies.values()
    finally:
        api.terminate()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[TestClient]:
    """The app in process, called from a non-loopback address, with both tokens configured."""
    settings = Settings(home=tmp_path / "home", token=FULL, read_token=READ)
    with TestClient(create_app(settings), client=("203.0.113.9", 5000)) as client:
        yield client


def test_documented_access_errors_are_the_ones_answered(
    remote: TestClient, documented: Spec
) -> None:
    for method, path, op in operations(documented):
        url = concrete(path, ex.UNKNOWN_RUN)
        unauthorized = examples_of(op["responses"]["401"]["content"]["application/json"])
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = remote.request(method, url, headers=headers)
            assert response.status_code == 401, (method, path)
            assert response.json() in unauthorized.values(), (method, path, response.json())
        response = remote.request(method, url, headers={"Authorization": f"Bearer {READ}"})
        if "403" in op["responses"]:
            forbidden = examples_of(op["responses"]["403"]["content"]["application/json"])
            assert response.status_code == 403, (method, path)
            assert response.json() in forbidden.values(), (method, path)
        else:
            assert response.status_code != 403, (method, path, "answers 403, undocumented")
