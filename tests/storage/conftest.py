"""Storage fixtures: boto3 pointed at the session's SeaweedFS server (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.infra.seaweed import SeaweedServer


@pytest.fixture
def seaweed(seaweed_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    """boto3 in this process (and in forked children) pointed at the SeaweedFS server."""
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in seaweed_server.env().items():
        monkeypatch.setenv(name, value)
    return seaweed_server
