"""The seed client (used by make smoke-aws) runs the whole workflow against a local API."""

from __future__ import annotations

from signalrisk.seedclient import SeedClient, is_true
from tests.server import ApiServer


def test_run_seed_client_against_local_api(api: ApiServer) -> None:
    client = SeedClient(api.url, poll_s=0.1, log=lambda _: None)
    try:
        run = client.run("ec2", r=2)
    finally:
        client.close()
    assert round(run.answers["/get_tot_profit_loss"]["profit_loss"], 3) == -39.763
    assert len(run.answers["/get_sig_vars9599"]["var95"]) == 36
    assert run.answers["/get_audit"][-1]["r"] == 2
    assert api.get("/scaled_terminated").json() == {"terminated": "true"}


def test_accept_every_spelling_of_true() -> None:
    assert all(is_true(v) for v in (True, "true", "True"))
    assert not any(is_true(v) for v in (False, "false", "False", None, 1))
