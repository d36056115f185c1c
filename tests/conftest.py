"""Shared fixtures: a real API process per module, torn down with all its workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.moto import MotoServer
from tests.infra.seaweed import SeaweedServer
from tests.server import ApiServer


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A running API on its own home directory, shared by the tests of one module."""
    server = ApiServer(Path(tmp_path_factory.mktemp("home")))
    server.start()
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


@pytest.fixture
def fresh_api(tmp_path: Path) -> Iterator[ApiServer]:
    """A running API of one's own, for tests that kill or restart it."""
    server = ApiServer(tmp_path / "home")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session; tests that need a clean slate use ``aws``."""
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """boto3 in this process pointed at a freshly reset moto server."""
    moto_server.reset()
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    return moto_server


from tests.infra.lambda_shim import LambdaShim  # noqa: E402 - appended with its fixture


@pytest.fixture
def lambda_shim(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaShim]:
    """A local Lambda service running ``signalrisk-compute`` for real (awslambdaric processes
    with our handler), boto3 in this process pointed at it through ``AWS_ENDPOINT_URL_LAMBDA``
    and at moto for everything else. Every environment's process is killed afterwards."""
    shim = LambdaShim(concurrency_limit=10)
    shim.register("signalrisk-compute", "signalrisk.workers.compute.handler", env=aws.env())
    shim.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", shim.url)
    yield shim
    shim.stop()


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """``weed mini`` on free loopback ports, stopped (its whole process group) at the end."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


from tests.infra.postgres import PostgresServer, PostgresUnavailable  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's binaries) on a free loopback port, in a temporary
    directory removed at the end. Missing binaries fail the tests with the install hint
    (``make test`` installs them), rather than skipping a feature untested."""
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        server.stop()
        pytest.fail(f"{exc}: run `make postgres` (apt-get install -y postgresql)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database on the session's PostgreSQL server."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
