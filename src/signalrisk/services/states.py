"""The scale's states and the rules of SPEC §2's state table that do not need the database."""

from __future__ import annotations

from typing import Literal

State = Literal["cold", "warming", "ready", "analysing", "terminating", "failed"]

STATES: tuple[State, ...] = ("cold", "warming", "ready", "analysing", "terminating", "failed")

# /scaled_ready answers "true" only when a scale can run an analysis (and all resources live).
READY_STATES = frozenset({"ready", "analysing"})
