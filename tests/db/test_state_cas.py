"""The scale's transitions and the end of a run are compare-and-sets that exactly one of
several concurrent writers wins, on SQLite and on PostgreSQL.

Each writer is a service facade with an engine (and connections) of its own, as a separate API
process has; they all start at once, behind a barrier.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from signalrisk.core.errors import Busy
from signalrisk.db.models import Control, ResourceRow, RunRow, ScaleRow
from signalrisk.services.facade import Facade
from signalrisk.services.replacements import ReplacementRecords

WRITERS = 6
REQUEST = {
    "s": "lambda",
    "r": 1,
    "h": 101,
    "d": 1000,
    "t": "sell",
    "p": 7,
    "ticker": "NVDA",
    "start": "2022-02-14",
    "end": "2025-02-11",
    "seed": 7,
    "platform": "local",
    "signals": 36,
    "data_sha256": "ab",
}
RESULT = {"total_profit_loss": -39.763, "av95": -0.05, "av99": -0.07, "time": 0.1, "cost": 1e-6}


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call at once; each one's return value, or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[index] = calls[index]()
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.fixture
def writers(facades: Callable[[], Facade]) -> list[Facade]:
    first = facades()
    first.ctx.db.migrate()
    return [first, *(facades() for _ in range(WRITERS - 1))]


def ready_scale(facade: Facade) -> str:
    spec = facade.scales.records.claim_new("lambda", 1, None)
    assert spec is not None
    assert facade.scales.records.cas(spec.scale_id, ("warming",), "ready", ready_at=1.0)
    return spec.scale_id


def scale_state(facade: Facade, scale_id: str) -> str:
    with facade.ctx.db.session() as session:
        row = session.get(ScaleRow, scale_id)
        assert row is not None
        return row.state


def test_claim_new_scale_concurrently_one_wins(writers: list[Facade]) -> None:
    outcomes = race([lambda f=f: f.scales.records.claim_new("lambda", 1, None) for f in writers])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    won = [o for o in outcomes if o is not None]
    assert len(won) == 1
    with writers[0].ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ScaleRow)) == 1
        assert session.get(Control, 1).current_scale_id == won[0].scale_id  # type: ignore[union-attr]
    # The losers look again and see the winner's scale, from any writer.
    assert {f.scales.current().id for f in writers} == {won[0].scale_id}


def test_claim_new_scale_replacing_stale_previous_refused(writers: list[Facade]) -> None:
    first = ready_scale(writers[0])
    second = writers[1].scales.records.claim_new("ec2", 1, first)
    assert second is not None
    assert writers[2].scales.records.claim_new("ec2", 2, first) is None  # first is not current
    assert writers[3].scales.current().id == second.scale_id


def test_cas_scale_concurrently_one_wins(writers: list[Facade]) -> None:
    spec = writers[0].scales.records.claim_new("ec2", 2, None)
    assert spec is not None
    outcomes = race(
        [
            lambda f=f: f.scales.records.cas(spec.scale_id, ("warming",), "ready", ready_at=2.0)
            for f in writers
        ]
    )
    assert sorted(outcomes) == [False] * (WRITERS - 1) + [True]
    assert scale_state(writers[-1], spec.scale_id) == "ready"
    # A move from a state the scale is no longer in is refused.
    assert not writers[1].scales.records.cas(spec.scale_id, ("warming",), "failed")
    assert scale_state(writers[2], spec.scale_id) == "ready"


def test_begin_analysis_concurrently_one_runs_others_busy(writers: list[Facade]) -> None:
    scale_id = ready_scale(writers[0])

    def claim(facade: Facade, run_id: str) -> str:
        facade.scales.begin_analysis(
            lambda session, spec: facade.runs.start(session, run_id, spec.scale_id, REQUEST)
        )
        return run_id

    outcomes = race([lambda f=f, n=n: claim(f, f"run-{n}") for n, f in enumerate(writers)])
    won = [o for o in outcomes if isinstance(o, str)]
    assert len(won) == 1, outcomes
    assert all(isinstance(o, Busy) for o in outcomes if not isinstance(o, str)), outcomes
    assert scale_state(writers[0], scale_id) == "analysing"
    with writers[0].ctx.db.session() as session:
        runs = session.scalars(select(RunRow)).all()
        assert [(r.id, r.status, r.scale_id) for r in runs] == [(won[0], "running", scale_id)]
    writers[1].scales.end_analysis(scale_id)
    assert scale_state(writers[2], scale_id) == "ready"


def test_finish_run_concurrently_ends_once_and_audits_once(writers: list[Facade]) -> None:
    scale_id = ready_scale(writers[0])
    writers[0].scales.begin_analysis(
        lambda session, spec: writers[0].runs.start(session, "r1", spec.scale_id, REQUEST)
    )
    results = [{**RESULT, "writer": n} for n in range(WRITERS)]
    outcomes = race(
        [
            lambda f=f, res=res: f.runs.finish("r1", REQUEST, res, None)
            for f, res in zip(writers, results, strict=True)
        ]
    )
    assert sorted(outcomes) == [False] * (WRITERS - 1) + [True], outcomes
    winner = outcomes.index(True)
    for facade in writers:
        assert facade.runs.last().result == results[winner]
    (key,) = writers[0].ctx.store.list("audit/")
    record = json.loads(writers[0].ctx.store.get(key))
    assert (record["run_id"], record["status"], record["profit_loss"]) == ("r1", "ok", -39.763)
    assert writers[0].runs.repair_audit() == 0
    writers[0].scales.end_analysis(scale_id)


def test_epoch_seconds_round_trip_exactly(writers: list[Facade]) -> None:
    """Times are floats in epoch seconds: a double on both databases, to the microsecond."""
    scale_id = ready_scale(writers[0])
    stamp = 1_764_070_123.123456
    assert writers[0].scales.records.cas(scale_id, ("ready",), "ready", ready_at=stamp)
    assert writers[1].scales.current().ready_at == stamp


def test_begin_analysis_lost_to_one_that_has_ended_is_busy_not_cold(
    writers: list[Facade], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the soak: A's claim fails while B analyses; B ends before A looks again. The
    scale is "ready" by then, and A must hear 409 busy, not "not_warm: the scale is ready"."""
    scale_id = ready_scale(writers[0])
    a, b = writers[0], writers[1]
    stale = a.scales.current()
    b.scales.begin_analysis(
        lambda session, spec: b.runs.start(session, "b", spec.scale_id, REQUEST)
    )
    claim = a.scales.records.cas

    def claim_then_b_ends(*args: Any, **kwargs: Any) -> bool:
        won = claim(*args, **kwargs)
        b.scales.end_analysis(scale_id)  # B finishes between A's claim and A's second look
        return won

    monkeypatch.setattr(a.scales.records, "cas", claim_then_b_ends)
    with pytest.raises(Busy):
        a.scales.begin_analysis(
            lambda session, spec: a.runs.start(session, "a", spec.scale_id, REQUEST), stale
        )
    assert scale_state(a, scale_id) == "ready"


def test_replacement_claims_racing_at_the_limit_fill_it_exactly(writers: list[Facade]) -> None:
    """Six writers claim six different dead resources of one scale at once with one slot left
    under the limit: exactly one claim wins (never two, never none)."""
    scale_id = ready_scale(writers[0])
    limit = 3
    with writers[0].ctx.db.session() as session:
        for index in range(WRITERS + limit - 1):
            session.add(
                ResourceRow(
                    id=f"res-{index}",
                    scale_id=scale_id,
                    index=index,
                    state="dead",
                    launched_at=1.0,
                    # limit - 1 of them were replaced already
                    replaced_at=2.0 if index >= WRITERS else None,
                )
            )
    repairs = [ReplacementRecords(w.ctx) for w in writers]
    outcomes = race(
        [lambda n=n: repairs[n].claim(scale_id, f"res-{n}", 3.0, limit) for n in range(WRITERS)]
    )
    assert sorted(outcomes) == ["claimed"] + ["limit"] * (WRITERS - 1), outcomes
    with writers[0].ctx.db.session() as session:
        claimed = session.scalar(
            select(func.count())
            .select_from(ResourceRow)
            .where(ResourceRow.scale_id == scale_id, ResourceRow.replaced_at.is_not(None))
        )
    assert claimed == limit
    # The same resource claimed by all six at once: one wins, the others see it taken.
    with writers[0].ctx.db.session() as session:
        session.add(
            ResourceRow(id="res-x", scale_id=scale_id, index=99, state="dead", launched_at=1.0)
        )
    outcomes = race([lambda n=n: repairs[n].claim(scale_id, "res-x", 4.0, 99) for n in range(6)])
    assert sorted(outcomes) == ["claimed"] + ["taken"] * 5, outcomes
