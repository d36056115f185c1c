"""``aws.storage_via_lambda`` and ``aws.manager_via_lambda`` over the real wire.

boto3 -> Lambda Invoke API (the local shim) -> a real ``awslambdaric`` process running our
handler -> boto3 in that process -> moto. Nothing is faked between the caller and the handler:
the storage store is :class:`LambdaStore` with boto3's own Lambda client, the manager is
:func:`lambda_manager`. One shim serves the module (its execution environments stay warm across
tests, as on Lambda); moto is reset before every test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from signalrisk.compute.aws_ec2 import AwsEc2Provider, lambda_manager
from signalrisk.compute.base import ScaleSpec
from signalrisk.compute.ec2fleet import DEPLOYMENT_TAG
from signalrisk.core.config import AwsSettings
from signalrisk.core.errors import ComputeError, NotFound, StorageError
from signalrisk.storage.base import ObjectStore
from signalrisk.storage.lambda_store import LambdaStore
from signalrisk.storage.s3 import S3Store, new_client
from signalrisk.workers.ec2_manager import SCALE_TAG
from signalrisk.workers.storage import GET_CHUNK, PAGE_BUDGET
from tests.infra.ec2boot import secret_in_user_data
from tests.infra.lambda_shim import LambdaShim
from tests.infra.moto import MotoServer
from tests.storage.contract import ObjectStoreContract

STORAGE = "signalrisk-storage"
STORAGE_NO_BUCKET = "signalrisk-storage-no-bucket"
MANAGER = "signalrisk-ec2-manager"
BUCKET = "signalrisk-audit-wire"
DEPLOYMENT = "sr-wire"
SECRET = "via-lambda-test-secret_0123456789"
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{17}$")
AL2023 = [{"Name": "name", "Values": ["al2023-ami-2023*-x86_64"]}]


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ami(moto_server: MotoServer) -> str:
    """An Amazon Linux 2023 image of moto's (the same one after every reset)."""
    env = moto_server.env()
    ec2 = boto3.client(
        "ec2",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    return str(ec2.describe_images(Owners=["amazon"], Filters=AL2023)["Images"][0]["ImageId"])


@pytest.fixture(scope="module")
def shim(moto_server: MotoServer, ami: str) -> Iterator[LambdaShim]:
    """The deployed functions, for real: each environment an awslambdaric process whose boto3
    reaches moto through the environment given here (what the deployment sets on AWS)."""
    # Room for the contract's 20 concurrent creates without throttling.
    service = LambdaShim(concurrency_limit=24)
    moto_env = moto_server.env()
    service.register(
        STORAGE,
        "signalrisk.workers.storage.handler",
        timeout_s=30,
        env={**moto_env, "SIGNALRISK_BUCKET": BUCKET},
    )
    service.register(
        STORAGE_NO_BUCKET,
        "signalrisk.workers.storage.handler",
        timeout_s=30,
        env={**moto_env, "SIGNALRISK_BUCKET": "signalrisk-no-such-bucket"},
    )
    service.register(
        MANAGER,
        "signalrisk.workers.ec2_manager.handler",
        timeout_s=30,
        env={
            **moto_env,
            "SIGNALRISK_FLEET": "aws",
            "SIGNALRISK_AWS__AMI": ami,
            "SIGNALRISK_AWS__DEPLOYMENT": DEPLOYMENT,
        },
    )
    service.start()
    yield service
    started = [e for name in service.functions for e in service.environments(name)]
    service.stop()
    assert not [e for e in started if e.alive()], "an awslambdaric process outlived the shim"


@pytest.fixture
def wire(aws: MotoServer, shim: LambdaShim, monkeypatch: pytest.MonkeyPatch) -> LambdaShim:
    """boto3 in this process (and in processes forked from it) pointed at the shim for Lambda
    and at a freshly reset moto for everything else."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", shim.url)
    return shim


@pytest.fixture
def bucket(wire: LambdaShim) -> str:
    new_client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def ec2(wire: LambdaShim) -> Any:
    return boto3.client("ec2")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


class Invocations:
    """boto3's own Lambda client, with each Invoke's action and answer size recorded from
    the HTTP exchange (the wire, not the handler)."""

    def __init__(self) -> None:
        self.client = new_client("lambda")
        self.actions: list[str] = []
        self.answer_sizes: list[int] = []
        self.client.meta.events.register("before-call.lambda.Invoke", self._request)
        self.client.meta.events.register("after-call.lambda.Invoke", self._answer)

    def _request(self, params: dict[str, Any], **_: Any) -> None:
        self.actions.append(json.loads(params["body"])["action"])

    def _answer(self, http_response: Any, **_: Any) -> None:
        self.answer_sizes.append(int(http_response.headers["Content-Length"]))

    def clear(self) -> None:
        self.actions.clear()
        self.answer_sizes.clear()


def raw_instances(ec2: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    pages = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i for page in pages for i in page["Instances"]}


def tags_of(raw: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.get("Tags", [])}


# -- the storage function ----------------------------------------------------------------


class TestLambdaStoreThroughShim(ObjectStoreContract):
    """The whole ObjectStore contract through the deployed storage function."""

    @pytest.fixture
    def store(self, bucket: str) -> ObjectStore:
        return LambdaStore(STORAGE)


def test_create_record_via_lambda_readable_directly_from_s3(bucket: str) -> None:
    LambdaStore(STORAGE).create("audit/run-7.json", b'{"run_id": "run-7"}')
    direct = S3Store(bucket)
    assert direct.list() == ["audit/run-7.json"]
    assert direct.get("audit/run-7.json") == b'{"run_id": "run-7"}'
    head = direct.client.head_object(Bucket=bucket, Key="audit/run-7.json")
    assert head["ContentType"] == "application/json"


def test_put_object_in_s3_readable_via_lambda(bucket: str) -> None:
    binary = bytes(range(256)) * 3
    direct = S3Store(bucket)
    direct.create("audit/run-8.json", b'{"run_id": "run-8"}')
    direct.put("charts/run-8.png", binary, content_type="image/png")
    via = LambdaStore(STORAGE)
    assert via.list() == ["audit/run-8.json", "charts/run-8.png"]
    assert via.get("charts/run-8.png") == binary
    assert via.read() == [{"key": "audit/run-8.json", "body": {"run_id": "run-8"}}]


def test_read_records_large_via_lambda_paged_none_lost(bucket: str) -> None:
    invocations = Invocations()
    store = LambdaStore(STORAGE, client=invocations.client)
    filler = "x" * 1_500_000  # about 2.7 of them fill a page
    for index in range(6):
        store.create(f"audit/r{index}.json", json.dumps({"i": index, "f": filler}).encode())
    # One record too big for any page: the function names it, the store fetches it in chunks.
    huge = {"i": 6, "f": "y" * (GET_CHUNK + 1_000_000)}
    assert len(json.dumps(huge)) > PAGE_BUDGET
    S3Store(bucket).create("audit/r6.json", json.dumps(huge).encode())
    invocations.clear()

    items = store.read()

    assert [item["key"] for item in items] == [f"audit/r{i}.json" for i in range(7)]
    assert [item["body"]["i"] for item in items] == list(range(7))
    assert all(item["body"]["f"] == filler for item in items[:6])
    assert items[6]["body"] == huge
    assert invocations.actions.count("read") >= 3  # 6 x 1.5 MB at 4 MB a page
    assert invocations.actions.count("get") == 2  # the big one, in GET_CHUNK pieces
    assert max(invocations.answer_sizes) < LAMBDA_PAYLOAD_LIMIT


def test_get_object_missing_via_lambda_raises_not_found(bucket: str) -> None:
    with pytest.raises(NotFound, match=r"charts/none\.png"):
        LambdaStore(STORAGE).get("charts/none.png")


def test_get_object_function_without_bucket_raises_storage_error_naming_it(
    bucket: str,
) -> None:
    with pytest.raises(StorageError, match=f"'{STORAGE_NO_BUCKET}' failed") as caught:
        LambdaStore(STORAGE_NO_BUCKET).get("audit/a.json")
    assert "NoSuchBucket" in str(caught.value)


def test_list_keys_undeployed_function_raises_storage_error(wire: LambdaShim) -> None:
    with pytest.raises(StorageError, match=r"'signalrisk-nope'.*ResourceNotFoundException"):
        LambdaStore("signalrisk-nope").list()


def test_presigned_url_signed_by_function_fetches_bytes(bucket: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    store = LambdaStore(STORAGE)
    store.put("charts/run-9.png", png, content_type="image/png")
    answer = httpx.get(store.presigned_url("charts/run-9.png", 60), timeout=10)
    assert answer.status_code == 200
    assert answer.content == png
    assert answer.headers["content-type"] == "image/png"


# -- the EC2 manager function ------------------------------------------------------------


@pytest.fixture
def manager_settings(wire: LambdaShim, ami: str) -> AwsSettings:
    return AwsSettings(manager_function=MANAGER, manager_via_lambda=True, ami=ami)


def test_run_manager_actions_via_lambda_create_confirm_terminate(
    manager_settings: AwsSettings, ec2: Any, ami: str
) -> None:
    manager = lambda_manager(manager_settings)

    created = manager({"action": "create", "r": 2, "scale_id": "scale-wire", "secret": SECRET})
    ids = created["ids"]
    assert len(ids) == 2 and all(INSTANCE_ID.match(i) for i in ids)
    raw = raw_instances(ec2, ids)
    assert sorted(raw) == sorted(ids)
    for instance_id, instance in raw.items():
        tags = tags_of(instance)
        assert tags[DEPLOYMENT_TAG] == DEPLOYMENT  # the function's own settings, not ours
        assert tags[SCALE_TAG] == "scale-wire"
        assert instance["ImageId"] == ami
        assert secret_in_user_data(ec2, instance_id) == SECRET

    confirmed = manager({"action": "confirm_creation", "ids": ids})
    assert confirmed["warm"] == "true"
    assert confirmed["instances_dns"] == [f"http://{raw[i]['PublicDnsName']}:8080" for i in ids]
    assert [i["id"] for i in confirmed["instances"]] == ids

    # One more of the same scale that the caller never recorded: scale_id finds it too.
    (stray,) = manager({"action": "create", "r": 1, "scale_id": "scale-wire", "secret": SECRET})[
        "ids"
    ]
    assert manager({"action": "terminate", "ids": ids, "scale_id": "scale-wire"}) == {
        "result": "ok"
    }
    done = manager({"action": "confirm_termination", "ids": [*ids, stray]})
    assert (done["result"], done["terminated"]) == ("ok", "true")
    states = {i: r["State"]["Name"] for i, r in raw_instances(ec2, [*ids, stray]).items()}
    assert states == dict.fromkeys([*ids, stray], "terminated")


def test_launch_provider_via_manager_lambda_terminates_until_gone(
    manager_settings: AwsSettings, ec2: Any, http: httpx.Client
) -> None:
    provider = AwsEc2Provider(lambda_manager(manager_settings), http, 5.0)
    spec = ScaleSpec("scale-provider", "ec2", 2, SECRET)

    resources = provider.launch(spec)

    assert [r.index for r in resources] == [0, 1]
    raw = raw_instances(ec2, [r.id for r in resources])
    assert {tags_of(i)[SCALE_TAG] for i in raw.values()} == {spec.scale_id}
    assert {i["State"]["Name"] for i in raw.values()} == {"running"}
    assert provider.gone(spec, resources) == [False, False]
    provider.terminate(spec, resources)
    assert provider.gone(spec, resources) == [True, True]
    live = ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{SCALE_TAG}", "Values": [spec.scale_id]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    assert live == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"action": "reboot"}, r"ValueError: action must be one of"),
        (
            {"action": "create", "r": 0, "scale_id": "s", "secret": SECRET},
            r"ValueError: r must be a positive integer",
        ),
        ({"action": "terminate", "ids": "i-1"}, r"ValueError: ids must be a list"),
    ],
    ids=["action", "r", "ids"],
)
def test_invoke_manager_bad_payload_raises_compute_error_naming_function(
    manager_settings: AwsSettings, ec2: Any, event: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ComputeError, match=f"'{MANAGER}' failed: {reason}"):
        lambda_manager(manager_settings)(event)
    assert ec2.describe_instances()["Reservations"] == []


def test_invoke_manager_undeployed_function_raises_compute_error_with_hint(
    manager_settings: AwsSettings,
) -> None:
    manager = lambda_manager(manager_settings.model_copy(update={"manager_function": "mgr"}))
    with pytest.raises(ComputeError, match=r"'mgr': ResourceNotFoundException.*deploy"):
        manager({"action": "confirm_creation", "ids": []})
