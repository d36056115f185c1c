"""Storage fixtures: one SeaweedFS server (a real S3 implementation) for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.infra.seaweed import SeaweedServer


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """``weed mini`` on free loopback ports, stopped (its whole process group) at the end."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def seaweed(seaweed_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    """boto3 in this process (and in forked children) pointed at the SeaweedFS server."""
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in seaweed_server.env().items():
        monkeypatch.setenv(name, value)
    return seaweed_server
