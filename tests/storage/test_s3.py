"""The S3 store (on moto and on SeaweedFS) and the Lambda store (through the storage handler)
against the ObjectStore contract, plus presigned URLs, paging and credential failures."""

from __future__ import annotations

import base64
import io
import json
import uuid
from typing import Any

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from signalrisk.core.errors import AlreadyExists, NotFound, StorageError
from signalrisk.storage.base import ObjectStore
from signalrisk.storage.lambda_store import MAX_REQUEST_BYTES, LambdaStore
from signalrisk.storage.registry import object_store
from signalrisk.storage.s3 import S3Store, new_client
from signalrisk.workers import storage as storage_worker
from tests.infra.moto import MotoServer
from tests.infra.seaweed import SeaweedServer

from .contract import ObjectStoreContract

BUCKET = "signalrisk-audit-test"
FUNCTION = "signalrisk-storage"
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


class InProcessLambda:
    """A stand-in for boto3's Lambda client: ``invoke`` runs the storage handler in this
    process (it reaches S3 through the ambient AWS environment, here moto).

    Only the invoke transport is faked, with Lambda's visible rules: 6 MB request and answer
    limits, ``FunctionError: Unhandled`` with ``errorType``/``errorMessage`` when the handler
    raises, ``ResourceNotFoundException`` for another function name. This stand-in for the
    invoke transport is acceptable for testing the store and the handler together; the real
    wire protocol (boto3 -> Lambda Invoke API -> awslambdaric runtime) is not exercised here and
    comes with the Lambda runtime emulator.
    """

    def __init__(self, function_name: str = FUNCTION) -> None:
        self.function_name = function_name
        self.answer_sizes: list[int] = []

    def invoke(  # boto3's argument names
        self,
        *,
        FunctionName: str,  # noqa: N803
        Payload: bytes,  # noqa: N803
        InvocationType: str = "RequestResponse",  # noqa: N803
    ) -> dict[str, Any]:
        assert InvocationType == "RequestResponse"
        if FunctionName != self.function_name:
            raise _client_error(
                404, "ResourceNotFoundException", f"Function not found: {FunctionName}"
            )
        if len(Payload) > LAMBDA_PAYLOAD_LIMIT:
            raise _client_error(
                413, "RequestTooLargeException", "Request must be smaller than 6 MB"
            )
        try:
            answer = json.dumps(storage_worker.handler(json.loads(Payload), None)).encode()
        except Exception as exc:
            return _function_error(type(exc).__name__, str(exc))
        self.answer_sizes.append(len(answer))
        if len(answer) > LAMBDA_PAYLOAD_LIMIT:
            return _function_error("Function.ResponseSizeTooLarge", "Response payload too large")
        return {"StatusCode": 200, "Payload": io.BytesIO(answer)}


def _client_error(status: int, code: str, message: str) -> ClientError:
    body = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(body, "Invoke")


def _function_error(kind: str, message: str) -> dict[str, Any]:
    payload = json.dumps({"errorType": kind, "errorMessage": message}).encode()
    return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(payload)}


@pytest.fixture
def moto_bucket(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    new_client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("SIGNALRISK_BUCKET", BUCKET)
    return BUCKET


@pytest.fixture
def seaweed_bucket(seaweed: SeaweedServer) -> str:
    name = f"signalrisk-test-{uuid.uuid4().hex[:12]}"
    new_client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def invoker(moto_bucket: str) -> InProcessLambda:
    return InProcessLambda()


class TestS3StoreOnMoto(ObjectStoreContract):
    @pytest.fixture
    def store(self, moto_bucket: str) -> ObjectStore:
        return S3Store(moto_bucket)


class TestS3StoreOnSeaweed(ObjectStoreContract):
    @pytest.fixture
    def store(self, seaweed_bucket: str) -> ObjectStore:
        return S3Store(seaweed_bucket)


class TestLambdaStoreOnMoto(ObjectStoreContract):
    @pytest.fixture
    def store(self, invoker: InProcessLambda) -> ObjectStore:
        return LambdaStore(FUNCTION, client=invoker)


def test_object_store_registry_builds_aws_stores() -> None:
    s3 = object_store("s3", bucket=BUCKET, client=object())
    assert isinstance(s3, S3Store) and s3.name == "s3"
    via_lambda = object_store("lambda", function_name=FUNCTION, client=object())
    assert isinstance(via_lambda, LambdaStore) and via_lambda.name == "lambda"


def test_s3_store_prefix_scopes_keys(moto_bucket: str) -> None:
    scoped = S3Store(moto_bucket, prefix="tenant-a")
    scoped.create("audit/r1.json", b"{}")
    assert scoped.list() == ["audit/r1.json"]
    assert S3Store(moto_bucket).list() == ["tenant-a/audit/r1.json"]
    assert S3Store(moto_bucket, prefix="tenant-b/").list() == []


@pytest.mark.parametrize("server", ["moto", "seaweed"])
def test_presigned_url_fetches_png_bytes(server: str, request: pytest.FixtureRequest) -> None:
    bucket = request.getfixturevalue("moto_bucket" if server == "moto" else "seaweed_bucket")
    store = S3Store(bucket)
    store.put("charts/run-1.png", PNG, content_type="image/png")
    url = store.presigned_url("charts/run-1.png", 300)
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.content == PNG
    assert answer.headers["content-type"] == "image/png"


def test_presigned_url_through_lambda_fetches_png_bytes(invoker: InProcessLambda) -> None:
    store = LambdaStore(FUNCTION, client=invoker)
    store.put("charts/run-2.png", PNG, content_type="image/png")
    answer = httpx.get(store.presigned_url("charts/run-2.png", 60), timeout=10)
    assert answer.status_code == 200 and answer.content == PNG


def test_presigned_url_bad_expiry_rejected(moto_bucket: str) -> None:
    with pytest.raises(StorageError, match="expiry_s"):
        S3Store(moto_bucket).presigned_url("charts/a.png", 0)


def test_read_records_big_records_paged_none_lost(invoker: InProcessLambda) -> None:
    filler = "x" * 200_000
    for index in range(60):
        answer = storage_worker.handler(
            {
                "action": "write",
                "key": f"audit/r{index:03d}.json",
                "body": {"i": index, "f": filler},
            }
        )
        assert answer == {"result": "ok"}
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = storage_worker.handler({"action": "read", "cursor": cursor})
        pages.append(page)
        cursor = page["cursor"]
        if cursor is None:
            break
    assert len(pages) > 1
    assert all(len(json.dumps(page)) < storage_worker.PAGE_BUDGET + 1024 for page in pages)
    bodies = [item["body"] for page in pages for item in page["items"]]
    assert [body["i"] for body in bodies] == list(range(60))
    assert all(body["f"] == filler for body in bodies)
    # The same through the client, which follows the cursor; no answer near Lambda's limit.
    items = LambdaStore(FUNCTION, client=invoker).read()
    assert [item["body"]["i"] for item in items] == list(range(60))
    assert max(invoker.answer_sizes) < LAMBDA_PAYLOAD_LIMIT


def test_read_records_limit_pages_and_text_bodies(invoker: InProcessLambda) -> None:
    for index in range(5):
        storage_worker.handler(
            {"action": "write", "key": f"audit/{index}.txt", "body": f"t{index}"}
        )
    first = storage_worker.handler({"action": "read", "limit": 2})
    assert [item["body"] for item in first["items"]] == ["t0", "t1"]
    assert first["cursor"] == "audit/1.txt"
    rest = storage_worker.handler({"action": "read", "cursor": first["cursor"], "limit": 10})
    assert [item["key"] for item in rest["items"]] == ["audit/2.txt", "audit/3.txt", "audit/4.txt"]
    assert rest["cursor"] is None


def test_write_record_existing_key_answers_exists(invoker: InProcessLambda) -> None:
    event = {"action": "write", "key": "audit/a.json", "body": {"run_id": "a"}}
    assert storage_worker.handler(event) == {"result": "ok"}
    assert storage_worker.handler({**event, "body": {"run_id": "b"}}) == {"result": "exists"}
    assert json.loads(S3Store(BUCKET).get("audit/a.json")) == {"run_id": "a"}


def test_get_object_bigger_than_lambda_limit_paged(invoker: InProcessLambda) -> None:
    blob = bytes(range(256)) * (7 * 4096)  # 7 MiB: over the 6 MB answer limit in one piece
    S3Store(BUCKET).put("charts/huge.png", blob, content_type="image/png")
    record = {"f": "y" * 5_000_000}  # one record over the read page budget
    S3Store(BUCKET).create("audit/big.json", json.dumps(record).encode())
    store = LambdaStore(FUNCTION, client=invoker)
    assert store.get("charts/huge.png") == blob
    assert store.read() == [{"key": "audit/big.json", "body": record}]
    assert max(invoker.answer_sizes) < LAMBDA_PAYLOAD_LIMIT


def test_create_object_over_request_limit_raises(invoker: InProcessLambda) -> None:
    store = LambdaStore(FUNCTION, client=invoker)
    with pytest.raises(StorageError, match="limit"):
        store.create("audit/too-big.json", b"z" * MAX_REQUEST_BYTES)
    assert not store.exists("audit/too-big.json")


def test_lambda_store_function_error_names_function(
    invoker: InProcessLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALRISK_BUCKET", "signalrisk-no-such-bucket")
    with pytest.raises(StorageError, match=FUNCTION) as caught:
        LambdaStore(FUNCTION, client=invoker).get("audit/a.json")
    assert "NoSuchBucket" in str(caught.value)


def test_lambda_store_unknown_function_raises(invoker: InProcessLambda) -> None:
    with pytest.raises(StorageError, match="signalrisk-nope"):
        LambdaStore("signalrisk-nope", client=invoker).list()


def test_lambda_store_missing_key_raises_not_found(invoker: InProcessLambda) -> None:
    with pytest.raises(NotFound):
        LambdaStore(FUNCTION, client=invoker).get("charts/none.png")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"action": "nope"}, "action"),
        ({"action": "write", "body": {}}, "key"),
        ({"action": "write", "key": "../x.json", "body": {}}, "key"),
        ({"action": "write", "key": "a.json"}, "body"),
        ({"action": "write", "key": "a.json", "body": [1, 2]}, "body"),
        ({"action": "write", "key": "a.json", "body": {}, "body_b64": ""}, "body"),
        (
            {"action": "put", "key": "a.png", "body_b64": "!!", "content_type": "image/png"},
            "body_b64",
        ),
        ({"action": "put", "key": "a.png", "body_b64": ""}, "content_type"),
        ({"action": "read", "limit": 0}, "limit"),
        ({"action": "read", "limit": True}, "limit"),
        ({"action": "read", "cursor": "a//b"}, "cursor"),
        ({"action": "list", "prefix": 3}, "prefix"),
        ({"action": "get", "key": "a.png", "offset": -1}, "offset"),
        ({"action": "url", "key": "a.png", "expiry_s": "60"}, "expiry_s"),
    ],
)
def test_handle_bad_payload_raises_value_error_naming_field(
    moto_bucket: str, event: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        storage_worker.handler(event)


def test_handler_without_bucket_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNALRISK_BUCKET", raising=False)
    with pytest.raises(StorageError, match="SIGNALRISK_BUCKET"):
        storage_worker.handler({"action": "list"})


def test_s3_store_wrong_credentials_raise_storage_error(
    seaweed_bucket: str, seaweed: SeaweedServer
) -> None:
    S3Store(seaweed_bucket).create("audit/a.json", b"{}")
    client = new_client("s3", aws_access_key_id="swadmin", aws_secret_access_key="not-the-secret")
    store = S3Store(seaweed_bucket, client=client)
    calls = [
        lambda: store.create("audit/b.json", b"{}"),
        lambda: store.put("charts/b.png", PNG),
        lambda: store.get("audit/a.json"),
        lambda: store.get("audit/missing.json"),
        lambda: store.list(),
        lambda: store.exists("audit/a.json"),
    ]
    for call in calls:
        with pytest.raises(StorageError) as caught:
            call()
        assert type(caught.value) is StorageError, caught.value  # not AlreadyExists
    assert S3Store(seaweed_bucket).list() == ["audit/a.json"]


def test_s3_store_unreachable_endpoint_raises_storage_error(moto_bucket: str) -> None:
    client = new_client("s3", endpoint_url="http://127.0.0.1:9", config=_no_retry())
    with pytest.raises(StorageError, match="cannot read"):
        S3Store(moto_bucket, client=client).get("audit/a.json")


def _no_retry() -> Any:
    return Config(retries={"max_attempts": 1}, connect_timeout=1)


def test_get_object_body_b64_round_trips_binary(invoker: InProcessLambda) -> None:
    data = bytes(range(256))
    answer = storage_worker.handler(
        {"action": "write", "key": "audit/bin", "body_b64": base64.b64encode(data).decode()}
    )
    assert answer == {"result": "ok"}
    got = storage_worker.handler({"action": "get", "key": "audit/bin"})
    assert base64.b64decode(got["body_b64"]) == data
    assert got["size"] == 256 and got["next_offset"] is None
    item = storage_worker.handler({"action": "read"})["items"][0]
    assert base64.b64decode(item["body_b64"]) == data


@pytest.mark.parametrize(
    ("answers", "outcome"),
    [
        ([(409, "ConditionalRequestConflict"), None], "created"),
        ([(409, "ConditionalRequestConflict"), (412, "PreconditionFailed")], "exists"),
        ([(403, "AccessDenied")], "error"),
    ],
)
def test_create_object_conflict_retried_then_translated(
    answers: list[tuple[int, str] | None], outcome: str
) -> None:
    client = new_client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    store = S3Store(BUCKET, client=client)
    with Stubber(client) as stubber:
        for answer in answers:
            if answer is None:
                stubber.add_response("put_object", {"ETag": '"e"'})
            else:
                stubber.add_client_error("put_object", answer[1], answer[1], answer[0])
        if outcome == "created":
            store.create("audit/a.json", b"{}")
        elif outcome == "exists":
            with pytest.raises(AlreadyExists):
                store.create("audit/a.json", b"{}")
        else:
            with pytest.raises(StorageError, match="AccessDenied") as caught:
                store.create("audit/a.json", b"{}")
            assert type(caught.value) is StorageError
        stubber.assert_no_pending_responses()
