"""Cheaper alternatives: spot, region, instance type, on-prem, off-hours, right-sizing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from plinth.capabilities.finops.alternatives import Target, alternatives_for, parse_floor
from plinth.capabilities.finops.estimate import Pricing
from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.finops.pricebook import Rate, default_pricebook
from plinth.infrastructure.store.db import Database

LOCAL = [
    Rate(sku, "local", "local", "on_prem", unit, Decimal(amount), "USD", "test")
    for sku, unit, amount in (
        ("compute.vcpu", "vcpu-hour", "0.01"),
        ("compute.memory", "gib-hour", "0.001"),
        ("accelerator.a100", "gpu-hour", "1"),
    )
]


def target(
    spec: dict[str, Any],
    *,
    type_: str = "service",
    production: bool = False,
    pricing: Pricing | None = None,
) -> Target:
    """Return a resource to find alternatives for (gcp europe-west1 unless told otherwise)."""
    return Target(
        name="web",
        type=type_,
        spec=spec,
        pricing=pricing or Pricing("gcp", "europe-west1"),
        environment="dev",
        project="checkout",
        production=production,
        floor={},
    )


def kinds(found: list[Any]) -> dict[str, Any]:
    """Return alternatives by kind."""
    return {a.kind: a for a in found}


def test_a_cloud_service_has_every_kind_of_alternative_ranked(database: Database) -> None:
    book = default_pricebook().with_overrides(LOCAL)
    spec = {"resources": {"cpu": "2", "memory": "8Gi"}}
    with database.transaction() as session:
        found = alternatives_for(session, book, [target(spec)])
    by_kind = kinds(found)
    assert set(by_kind) == {"right-size", "spot", "region", "on-prem", "off-hours"}
    assert by_kind["region"].change == {"region": "us-central1"}
    assert by_kind["spot"].change == {"price_type": "spot"}
    assert by_kind["on-prem"].change == {"provider": "local"}
    assert by_kind["right-size"].change == {"cpu": "1", "memory": "4Gi"}
    savings = [a.savings for a in found]
    assert savings == sorted(savings, reverse=True) and all(s > 0 for s in savings)
    data = found[0].as_dict()
    assert set(data) == {
        "kind",
        "resource",
        "summary",
        "monthly_before",
        "monthly_after",
        "monthly_savings",
        "change",
    }


def test_production_services_are_not_switched_off_at_night(database: Database) -> None:
    with database.transaction() as session:
        found = alternatives_for(
            session, default_pricebook(), [target({"resources": {"cpu": "1"}}, production=True)]
        )
    assert "off-hours" not in kinds(found)


def test_accelerators_can_be_a_cheaper_type(database: Database) -> None:
    spec = {"resources": {"cpu": "0", "memory": "0"}, "accelerators": {"type": "a100", "count": 1}}
    with database.transaction() as session:
        found = alternatives_for(
            session, default_pricebook(), [target(spec, pricing=Pricing("gcp", "us-central1"))]
        )
    cheaper = kinds(found)["instance-type"]
    assert cheaper.change == {"accelerator": "t4"}
    assert cheaper.monthly_after == Decimal("0.35") * 730


def test_jobs_run_off_hours_on_spot(database: Database) -> None:
    spec = {"schedule": "0 * * * *", "timeout_s": 600, "resources": {"cpu": "4", "memory": "8Gi"}}
    with database.transaction() as session:
        found = alternatives_for(session, default_pricebook(), [target(spec, type_="job")])
    off = kinds(found)["off-hours"]
    assert off.change == {"price_type": "spot"} and "off-hours on spot" in off.summary
    assert "spot" not in kinds(found)


def test_nothing_cheaper_means_no_alternatives(database: Database) -> None:
    with database.transaction() as session:
        free = alternatives_for(
            session, default_pricebook(), [target({}, pricing=Pricing("nowhere", "x"))]
        )
        tiny = alternatives_for(
            session,
            default_pricebook(),
            [
                target(
                    {"resources": {"cpu": "100m", "memory": "64Mi"}},
                    production=True,
                    pricing=Pricing("aws", "us-east-1", "spot"),
                )
            ],
        )
    assert free == [] and tiny == []


def test_right_sizing_follows_measured_use(database: Database) -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with database.transaction() as session:
        for used_gib in ("0.5", "0.5", "1"):
            session.add(
                CostEntry(
                    at=at,
                    period_s=1800.0,
                    source="meter",
                    resource_name="web",
                    environment="dev",
                    project="checkout",
                    dimension="memory",
                    quantity=Decimal(used_gib) / 2,
                    unit="gib-hour",
                    unit_price=Decimal(0),
                    cost=Decimal(0),
                    currency="USD",
                    extra={},
                    ingested_at=at,
                )
            )
        found = alternatives_for(
            session, default_pricebook(), [target({"resources": {"cpu": "1", "memory": "8Gi"}})]
        )
    sized = kinds(found)["right-size"]
    # p95 of 0.5, 0.5, 1 GiB is 1 GiB; + 20 % = 1.2 GiB, rounded up to 16 MiB steps.
    assert sized.change == {"cpu": "1", "memory": "1232Mi"}


def test_template_floors_sum_lower_bounds_of_cpu_and_memory() -> None:
    raw = {
        "spec": {
            "bounds": [
                {"path": "containers.main.resources.limits.cpu", "min": "100m"},
                {"path": "containers.side.resources.limits.cpu", "min": "50m"},
                {"path": "containers.main.resources.limits.memory", "min": "64Mi"},
                {"path": "containers.main.image", "enum": ["x"]},
            ]
        }
    }
    assert parse_floor(raw) == {"cpu": Decimal("0.150"), "memory": Decimal(64 * 1024**2)}
    assert parse_floor(None) == {}
