"""Billable time and money (SPEC §4), from the configured price table.

Billable time is summed over resources:

- Lambda: the billed duration of each invocation (1 ms granularity) at the configured memory,
  ``cost = billed_s x memory_GB x price_per_GB_s + requests x price_per_request``;
- EC2: per second at the instance's hourly price plus its public IPv4 address, with a 60-second
  minimum once per instance lifetime, charged with the warm-up (the first minute of every
  instance's life); an analysis then costs its wall time x r.

On the local platform the figures are what the same job would cost on AWS (``local-simulated``),
with the configured EC2 boot time standing in for the local process start-up.

Before an analysis runs, :func:`estimate_analysis_cost` prices it from an assumed throughput
(``PriceTable.estimate_draws_per_s``), so that ``limits.max_analysis_usd`` can refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from signalrisk.core.config import PriceTable

Basis = Literal["lambda-report", "list-price", "local-simulated"]


@dataclass(frozen=True, slots=True)
class Cost:
    """Billable seconds and US dollars, with what the figure rests on."""

    billable_s: float
    usd: float
    estimate: bool
    basis: Basis

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def basis_for(platform: str, service: str) -> tuple[bool, Basis]:
    """Whether a cost is an estimate, and its basis, on ``platform`` for ``service``."""
    if platform == "local":
        return True, "local-simulated"
    if service == "lambda":
        return False, "lambda-report"  # AWS's own billed duration at the list price
    return True, "list-price"


def lambda_cost(billed_ms: Sequence[float], prices: PriceTable) -> float:
    """Dollars for invocations of the given billed durations."""
    gb = prices.lambda_memory_mb / 1024.0
    seconds = sum(billed_ms) / 1000.0
    return seconds * gb * prices.lambda_gb_second + len(billed_ms) * prices.lambda_per_request


def ec2_rate_per_s(prices: PriceTable) -> float:
    """Dollars per instance-second: the instance type plus its public IPv4 address."""
    return (prices.ec2_hourly + prices.ec2_ipv4_hourly) / 3600.0


def warmup_cost(
    platform: str, service: str, per_resource_s: Sequence[float], prices: PriceTable
) -> Cost:
    """Cost of warming up: ``per_resource_s`` is each resource's billable warm-up seconds
    (Lambda: billed duration of its warm-up invocation; EC2: launch request to ready)."""
    estimate, basis = basis_for(platform, service)
    if service == "lambda":
        usd = lambda_cost([s * 1000.0 for s in per_resource_s], prices)
        return Cost(sum(per_resource_s), usd, estimate, basis)
    if platform == "local":
        per_resource_s = [prices.ec2_boot_seconds for _ in per_resource_s]
    charged = [max(s, prices.ec2_minimum_seconds) for s in per_resource_s]
    return Cost(sum(per_resource_s), sum(charged) * ec2_rate_per_s(prices), estimate, basis)


def analysis_cost(
    platform: str,
    service: str,
    billed_ms: Sequence[float],
    wall_s: float,
    r: int,
    prices: PriceTable,
) -> Cost:
    """Cost of one analysis: Lambda bills each invocation's duration, EC2 the wall time x r."""
    estimate, basis = basis_for(platform, service)
    if service == "lambda":
        return Cost(sum(billed_ms) / 1000.0, lambda_cost(billed_ms, prices), estimate, basis)
    seconds = wall_s * r
    return Cost(seconds, seconds * ec2_rate_per_s(prices), estimate, basis)


def batch_seconds(service: str, draws: int, prices: PriceTable) -> float:
    """Seconds one resource is assumed to take for ``draws`` Monte Carlo draws (d x signals).

    ``t = overhead + draws / rate``, where ``rate`` is ``prices.estimate_draws_per_s`` (draws/s
    of one vCPU) times the resource's share of a vCPU: one for an instance, ``min(1, memory_MB /
    lambda_mb_per_vcpu)`` for a Lambda function, which gets CPU in proportion to its memory.
    """
    share = 1.0
    if service == "lambda":
        share = min(1.0, prices.lambda_memory_mb / prices.lambda_mb_per_vcpu)
    return prices.estimate_batch_overhead_s + draws / (prices.estimate_draws_per_s * share)


def estimate_analysis_cost(service: str, r: int, d: int, signals: int, prices: PriceTable) -> Cost:
    """What an analysis of ``signals`` signals, ``d`` draws each on ``r`` resources, is assumed
    to cost before it runs (the basis of ``limits.max_analysis_usd``).

    With ``t = batch_seconds(d x signals)`` (seconds, one batch per resource, in parallel):

    - Lambda: ``r`` invocations of ``t`` rounded up to the millisecond,
      ``usd = r x (ceil_ms(t) x memory_GB x price_per_GB_s + price_per_request)``;
    - EC2: the wall time ``t`` on each of ``r`` instances,
      ``usd = t x r x (hourly + ipv4_hourly) / 3600``.

    No signal means no batch and no cost. Always an estimate, on the list prices, whatever
    the platform.
    """
    basis: Basis = "list-price"
    if signals <= 0 or r <= 0:
        return Cost(0.0, 0.0, True, basis)
    seconds = batch_seconds(service, d * signals, prices)
    if service == "lambda":
        billed_ms = [float(math.ceil(seconds * 1000.0))] * r
        return Cost(sum(billed_ms) / 1000.0, lambda_cost(billed_ms, prices), True, basis)
    return Cost(seconds * r, seconds * r * ec2_rate_per_s(prices), True, basis)


def instance_seconds(
    platform: str,
    launched_at: float,
    ready_at: float | None,
    ended_at: float | None,
    now: float,
    prices: PriceTable,
) -> float:
    """Billable seconds of one instance's life so far: launch to termination (or now).

    On the local platform the configured boot time stands in for the real start-up, and the
    rest of the life is counted from readiness.
    """
    end = ended_at if ended_at is not None else now
    if platform != "local":
        return max(0.0, end - launched_at)
    since_ready = max(0.0, end - ready_at) if ready_at is not None else 0.0
    return prices.ec2_boot_seconds + since_ready


def scale_cost_to_date(
    platform: str,
    service: str,
    instance_lifetimes_s: Sequence[float],
    warmup: Cost | None,
    analyses_usd: float,
    prices: PriceTable,
    provisioned_s: float = 0.0,
    replacement_warmups: Cost | None = None,
) -> Cost:
    """What a scale has cost so far, idle time included (SPEC §4).

    EC2 bills every second of every instance's life (60 s minimum each), busy or idle, so the
    analyses and the replacements of dead instances are already inside it; Lambda bills
    invocations (warm-up, the warm-ups of replacements, and analyses) and, when the scale holds
    provisioned concurrency, ``provisioned_s`` environment-seconds of it at its own rate.
    """
    estimate, basis = basis_for(platform, service)
    if service == "ec2":
        charged = [max(s, prices.ec2_minimum_seconds) for s in instance_lifetimes_s]
        return Cost(
            sum(instance_lifetimes_s), sum(charged) * ec2_rate_per_s(prices), estimate, basis
        )
    warm_s, warm_usd = (warmup.billable_s, warmup.usd) if warmup else (0.0, 0.0)
    if replacement_warmups is not None:
        warm_s += replacement_warmups.billable_s
        warm_usd += replacement_warmups.usd
    gb = prices.lambda_memory_mb / 1024.0
    provisioned_usd = provisioned_s * gb * prices.lambda_provisioned_gb_second
    return Cost(warm_s + provisioned_s, warm_usd + analyses_usd + provisioned_usd, estimate, basis)
