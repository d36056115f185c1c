"""The instance-fleet interface that the EC2-manager handler drives.

On AWS the fleet is EC2 itself; on the local platform it is a set of local worker processes
that behave like instances (ids ``i-…``, states, an address per running instance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

InstanceState = Literal["pending", "running", "shutting-down", "terminated"]


@dataclass(frozen=True, slots=True)
class Instance:
    """One instance as the fleet describes it."""

    id: str
    state: InstanceState
    address: str | None  # base URL of the worker app when running
    pid: int | None = None
    create_time: float | None = None


@runtime_checkable
class Fleet(Protocol):
    """Launch, describe and terminate instances that serve the worker app.

    ``run`` tags every instance (``tags``) so that it can be found after a crash and hands the
    scale's ``secret`` to the worker; it returns the new ids without waiting for them to boot.
    ``describe`` of an unknown id reports it ``terminated``. ``find`` looks instances up by tag,
    which is how a scale's instances are found after a crash lost their ids.
    """

    def run(self, count: int, tags: dict[str, str], secret: str) -> list[str]: ...

    def describe(self, ids: list[str]) -> list[Instance]: ...

    def terminate(self, ids: list[str]) -> None: ...

    def find(self, tags: dict[str, str]) -> list[str]:
        """Ids of the instances carrying all of ``tags`` that are not yet terminated."""
        ...
