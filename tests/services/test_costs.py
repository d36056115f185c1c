"""Costs (SPEC §4) from the price table, with a hand computation for each case."""

from __future__ import annotations

import math

import pytest

from signalrisk.core.config import PriceTable
from signalrisk.services.costs import (
    analysis_cost,
    basis_for,
    instance_seconds,
    scale_cost_to_date,
    warmup_cost,
)

PRICES = PriceTable()


def test_compute_lambda_analysis_cost_from_billed_durations() -> None:
    cost = analysis_cost("aws", "lambda", [120.0, 80.0, 100.0], wall_s=9.0, r=3, prices=PRICES)
    gb = PRICES.lambda_memory_mb / 1024
    expected = 0.3 * gb * 0.0000166667 + 3 * 0.20 / 1e6
    assert cost.billable_s == pytest.approx(0.3)
    assert cost.usd == pytest.approx(expected)
    assert (cost.estimate, cost.basis) == (False, "lambda-report")


def test_compute_ec2_analysis_cost_is_wall_time_times_r() -> None:
    cost = analysis_cost("aws", "ec2", [1.0, 2.0], wall_s=2.5, r=4, prices=PRICES)
    assert cost.billable_s == pytest.approx(10.0)
    assert cost.usd == pytest.approx(10.0 * (0.0116 + 0.005) / 3600)
    assert (cost.estimate, cost.basis) == (True, "list-price")


def test_compute_ec2_warmup_cost_applies_sixty_second_minimum() -> None:
    cost = warmup_cost("aws", "ec2", [30.0, 75.0], PRICES)
    assert cost.billable_s == pytest.approx(105.0)
    assert cost.usd == pytest.approx((60.0 + 75.0) * (0.0116 + 0.005) / 3600)


def test_compute_local_ec2_warmup_cost_uses_configured_boot_time() -> None:
    prices = PriceTable(ec2_boot_seconds=90.0)
    cost = warmup_cost("local", "ec2", [0.2, 0.3, 0.25], prices)
    assert cost.billable_s == pytest.approx(270.0)
    assert cost.usd == pytest.approx(270.0 * (0.0116 + 0.005) / 3600)
    assert (cost.estimate, cost.basis) == (True, "local-simulated")


def test_compute_lambda_warmup_cost_from_warm_invocations() -> None:
    cost = warmup_cost("local", "lambda", [0.004, 0.003], PRICES)
    assert cost.billable_s == pytest.approx(0.007)
    gb = PRICES.lambda_memory_mb / 1024
    assert math.isclose(cost.usd, 0.007 * gb * 0.0000166667 + 2 * 0.2e-6)


@pytest.mark.parametrize(
    ("platform", "service", "expected"),
    [
        ("local", "lambda", (True, "local-simulated")),
        ("local", "ec2", (True, "local-simulated")),
        ("aws", "lambda", (False, "lambda-report")),
        ("aws", "ec2", (True, "list-price")),
    ],
)
def test_choose_cost_basis_by_platform_and_service(
    platform: str, service: str, expected: tuple[bool, str]
) -> None:
    assert basis_for(platform, service) == expected


def test_count_instance_seconds_from_launch_on_aws_and_boot_time_locally() -> None:
    prices = PriceTable(ec2_boot_seconds=40.0)
    assert instance_seconds("aws", 100.0, 150.0, None, 400.0, prices) == 300.0
    assert instance_seconds("aws", 100.0, 150.0, 250.0, 400.0, prices) == 150.0
    assert instance_seconds("local", 100.0, 100.5, None, 130.5, prices) == 40.0 + 30.0
    assert instance_seconds("local", 100.0, None, None, 130.0, prices) == 40.0


def test_compute_ec2_cost_to_date_bills_idle_time_with_minimum() -> None:
    cost = scale_cost_to_date("aws", "ec2", [30.0, 600.0], None, 123.0, PRICES)
    assert cost.billable_s == pytest.approx(630.0)
    # Idle or busy, every second of an instance is billed: the analyses are inside it.
    assert cost.usd == pytest.approx((60.0 + 600.0) * (0.0116 + 0.005) / 3600)


def test_compute_lambda_cost_to_date_is_warmup_plus_analyses() -> None:
    warm = warmup_cost("aws", "lambda", [0.2, 0.3], PRICES)
    cost = scale_cost_to_date("aws", "lambda", [], warm, 0.5, PRICES)
    assert cost.usd == pytest.approx(warm.usd + 0.5)
    assert cost.basis == "lambda-report"


def test_compute_provisioned_concurrency_cost_while_it_exists() -> None:
    cost = scale_cost_to_date("aws", "lambda", [], None, 0.0, PRICES, provisioned_s=3600.0)
    gb = PRICES.lambda_memory_mb / 1024
    assert cost.usd == pytest.approx(3600.0 * gb * PRICES.lambda_provisioned_gb_second)
