"""Estimates: what a resource costs per hour and per month, by type, before it exists."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plinth.capabilities.finops.estimate import (
    HOURS_PER_MONTH,
    Pricing,
    estimate_resource,
    pricing_for,
    runs_per_month,
)
from plinth.capabilities.finops.pricebook import PriceBook, Rate
from plinth.core.errors import InvalidInput

RATES = {
    "compute.vcpu": ("vcpu-hour", "0.04"),
    "compute.memory": ("gib-hour", "0.005"),
    "accelerator.a100": ("gpu-hour", "3"),
    "storage.block": ("gib-month", "0.1"),
    "database.postgres": ("instance-hour", "0.02"),
    "database.storage": ("gib-month", "0.2"),
}
HERE = Pricing("test", "r1", "on_demand")


def book() -> PriceBook:
    """Return a small book with round prices at provider ``test``, region ``r1``."""
    rates = [
        Rate(sku, "test", "r1", "on_demand", unit, Decimal(amount), "USD", "test")
        for sku, (unit, amount) in RATES.items()
    ]
    return PriceBook.of(version="t", effective=date(2026, 1, 1), currency="USD", rates=rates)


def estimate(type_: str, spec: dict[str, Any] | None) -> Any:
    """Return the estimate of one resource at the test rates."""
    return estimate_resource(book(), type=type_, spec=spec, pricing=HERE)


def test_a_service_costs_cpu_and_memory_every_hour_of_the_month() -> None:
    result = estimate("service", {"resources": {"cpu": "500m", "memory": "2Gi"}})
    # (0.5 x 0.04 + 2 x 0.005) x 730 = 21.90
    assert result.monthly == Decimal("21.900")
    assert result.hourly == Decimal("0.03")
    data = result.as_dict()
    assert data["monthly"] == "21.900000" and data["hourly"] == "0.030000"
    assert [(b["dimension"], b["quantity"], b["monthly"]) for b in data["breakdown"]] == [
        ("cpu", "365", "14.600000"),
        ("memory", "1460", "7.300000"),
    ]
    assert data["notes"] == []


def test_replicas_multiply_and_defaults_are_noted() -> None:
    one = estimate("service", {})
    assert any("no cpu declared: assumed 100m" in n for n in one.notes)
    assert any("no memory declared: assumed 128Mi" in n for n in one.notes)
    three = estimate("service", {"replicas": 3})
    assert three.monthly == one.monthly * 3
    bad = estimate("service", {"replicas": "many"})
    assert bad.monthly == one.monthly and any("replicas" in n for n in bad.notes)


def test_placeholders_carry_no_cost() -> None:
    result = estimate("service", {"resources": {"cpu": "${params.cpu}", "memory": "1Gi"}})
    assert [line.dimension for line in result.lines] == ["memory"]
    assert any("${params.cpu} is not known until apply" in n for n in result.notes)


def test_a_job_costs_its_runs() -> None:
    spec = {"schedule": "0 3 * * *", "timeout_s": 1800, "resources": {"cpu": "1", "memory": "1Gi"}}
    result = estimate("job", spec)
    # 31 runs x 0.5 h x (0.04 + 0.005)
    assert result.monthly == Decimal("0.6975")
    no_timeout = estimate("job", spec | {"timeout_s": None})
    assert no_timeout.monthly == Decimal("0.2325")  # 31 runs x 600 s
    assert any("600 s" in n for n in no_timeout.notes)
    once = estimate("job", spec | {"schedule": None})
    assert once.monthly == Decimal("0.0225")
    broken = estimate("job", spec | {"schedule": "every day"})
    assert broken.monthly == 0 and any("invalid cron" in n for n in broken.notes)


@pytest.mark.parametrize(
    ("schedule", "runs"),
    [
        (None, 1),
        ("0 0 1 * *", 1),
        ("0 3 * * *", 31),
        ("0 * * * *", 730),
        ("*/5 * * * *", 8760),
        ("* * * * *", 43800),
        ("0 9 * * 1-5", 23),  # the reference month starts on a Monday
    ],
)
def test_runs_per_month(schedule: str | None, runs: int) -> None:
    assert runs_per_month(schedule) == runs


def test_runs_per_month_refuses_bad_schedules() -> None:
    with pytest.raises(InvalidInput, match="invalid cron schedule"):
        runs_per_month("61 * * * *")


def test_postgres_volume_route_and_unknown_types() -> None:
    pg = estimate("postgres", {"database": "shop"})
    # 730 x 0.02 + 10 GiB x 0.2
    assert pg.monthly == Decimal("16.60")
    assert estimate("postgres", {"size": "20Gi"}).monthly == Decimal("18.60")
    assert estimate("volume", {"size": "50Gi"}).monthly == Decimal("5.0")
    assert estimate("volume", {}).monthly == Decimal("0.1")
    assert estimate("route", {"host": "x"}).monthly == 0
    other = estimate("queue", {})
    assert other.monthly == 0 and other.notes == ("resources of type 'queue' are not priced",)


def test_accelerators_are_priced_per_gpu_hour() -> None:
    spec = {"resources": {"cpu": "0", "memory": "0"}, "accelerators": {"type": "A100", "count": 2}}
    assert estimate("service", spec).monthly == Decimal(2 * 3) * HOURS_PER_MONTH


def test_a_missing_rate_is_a_note_not_a_failure() -> None:
    result = estimate_resource(book(), type="service", spec={}, pricing=Pricing("x", "y"))
    assert result.monthly == 0
    assert any("no price for compute.vcpu at provider 'x'" in n for n in result.notes)


def test_local_resources_are_priced_on_prem() -> None:
    assert pricing_for(provider="local", region="anything") == Pricing("local", "local", "on_prem")
    assert pricing_for(provider="aws", region="eu-west-1") == Pricing("aws", "eu-west-1")


@given(
    cpu=st.integers(min_value=0, max_value=64_000),
    memory=st.integers(min_value=0, max_value=1024),
    replicas=st.integers(min_value=0, max_value=20),
)
def test_service_cost_is_linear(cpu: int, memory: int, replicas: int) -> None:
    spec = {"replicas": replicas, "resources": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"}}
    result = estimate("service", spec)
    expected = (
        (Decimal(cpu) / 1000 * Decimal("0.04") + Decimal(memory) / 1024 * Decimal("0.005"))
        * HOURS_PER_MONTH
        * replicas
    )
    assert result.monthly == expected
    assert result.monthly >= 0


def test_public_surfaces_are_pinned() -> None:
    from plinth.capabilities.finops import alternatives, estimate

    assert sorted(estimate.__all__) == [
        "DEFAULT_CPU",
        "DEFAULT_JOB_DURATION_S",
        "DEFAULT_MEMORY",
        "DEFAULT_POSTGRES_STORAGE",
        "DEFAULT_VOLUME_SIZE",
        "Estimate",
        "HOURS_PER_MONTH",
        "Line",
        "Pricing",
        "estimate_resource",
        "money",
        "pricing_for",
        "runs_per_month",
    ]
    assert sorted(alternatives.__all__) == [
        "Alternative",
        "FLOOR_CPU",
        "FLOOR_MEMORY",
        "HEADROOM",
        "Target",
        "WORKING_HOURS",
        "alternatives_for",
        "parse_floor",
        "usage_p95",
    ]
