"""Cost in plans and the cost gate: budgets, alternatives, reservations, concurrent applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
import yaml

from plinth.capabilities.finops.models import BudgetReservation, CostEntry
from plinth.core.clock import FrozenClock
from plinth.core.errors import GateDenied, SpecError
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import count, resources
from tests.orchestration.test_concurrent_apply import race

START = datetime(2026, 12, 1, tzinfo=UTC)  # a whole month (744 h) left in the period
HOURS = Decimal(744)
VCPU_HOUR = Decimal("0.1")


@pytest.fixture
def clock() -> FrozenClock:
    """The first instant of December, so that a monthly budget has all of it left."""
    return FrozenClock(START)


def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Return a plinth.dev/v1 document."""
    return {"apiVersion": "plinth.dev/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


FAKE_RATES = doc(
    "PriceBook",
    "fake-rates",
    {
        "source": "test rates",
        "rates": [
            {
                "sku": sku,
                "provider": "fake",
                "region": "local",
                "price_type": "on_demand",
                "unit": unit,
                "amount": amount,
            }
            for sku, unit, amount in (
                ("compute.vcpu", "vcpu-hour", "0.1"),
                ("compute.memory", "gib-hour", "0"),
                ("database.postgres", "instance-hour", "0"),
                ("database.storage", "gib-month", "0"),
            )
        ],
    },
)


def budget(amount: str = "100", **spec: Any) -> dict[str, Any]:
    """Return a monthly budget of project checkout."""
    return doc(
        "Budget",
        "checkout-monthly",
        {"scope": {"project": "checkout"}, "amount": amount, "period": "monthly"} | spec,
    )


def service(name: str, cpu: str, memory: str = "256Mi") -> dict[str, Any]:
    """Return a Score workload whose service has ``cpu`` and ``memory`` limits."""
    return {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": name},
        "containers": {
            "main": {
                "image": "registry.local/app:1",
                "resources": {"limits": {"cpu": cpu, "memory": memory}},
            }
        },
    }


def dump(*docs: dict[str, Any]) -> str:
    """Return documents as YAML."""
    return yaml.safe_dump_all(docs, sort_keys=False)


def apply_as(world: World, user: str, *docs: dict[str, Any]) -> dict[str, Any]:
    """Plan and apply documents in dev as ``user``."""
    actor = world.actor(user)
    plan = world.platform.plan(actor, PlanRequest(environment="dev", documents=dump(*docs)))
    return world.platform.apply(actor, plan["digest"])


def plan_as(world: World, user: str, *docs: dict[str, Any]) -> dict[str, Any]:
    """Plan documents in dev (project checkout) as ``user``."""
    request = PlanRequest(environment="dev", project="checkout", documents=dump(*docs))
    return world.platform.plan(world.actor(user), request)


def cost_verdict(plan: dict[str, Any]) -> dict[str, Any]:
    """Return the cost gate's verdict of a plan."""
    (verdict,) = [v for v in plan["verdicts"] if v["gate"] == "cost"]
    return dict(verdict)


def priced(world: World, amount: str = "100", **spec: Any) -> None:
    """Load the fake provider's rates and a checkout budget (as pat, the platform engineer)."""
    assert apply_as(world, "pat", FAKE_RATES, budget(amount, **spec))["status"] == "applied"


def test_every_resource_change_and_the_plan_carry_cost(world: World) -> None:
    priced(world)
    plan = plan_as(world, "ada", service("web", "1"))
    (change,) = [c for c in plan["changes"] if c["kind"] == "Resource"]
    assert change["cost"]["monthly"] == "73.000000" and change["cost"]["hourly"] == "0.100000"
    assert change["cost"]["currency"] == "USD"
    assert [b["sku"] for b in change["cost"]["breakdown"]] == ["compute.vcpu", "compute.memory"]
    assert "cost_before" not in change
    cost = plan["cost"]
    assert (cost["monthly_before"], cost["monthly_after"], cost["monthly_delta"]) == (
        "0.00",
        "73.00",
        "73.00",
    )
    assert cost["hourly_delta"] == "0.100000"
    assert cost["by_team"] == {"payments": "73.00"} and cost["by_project"] == {"checkout": "73.00"}
    assert cost["by_environment"] == {"dev": "73.00"}
    assert cost["price_book"].endswith("+fake-rates+on-prem-local")
    assert cost_verdict(plan)["verdict"] == "allow"
    world.platform.apply(world.actor("ada"), plan["digest"])
    bigger = plan_as(world, "ada", service("web", "1500m"))
    (change,) = [c for c in bigger["changes"] if c["kind"] == "Resource"]
    assert change["cost_before"]["monthly"] == "73.000000"
    assert change["cost"]["monthly"] == "109.500000"
    assert bigger["cost"]["monthly_delta"] == "36.50"
    # Stored plans show the same cost through the API's plan view.
    assert world.platform.get_plan(bigger["digest"])["cost"] == bigger["cost"]


def test_a_plan_over_budget_needs_approval_with_alternatives_and_a_cheaper_one_passes(
    world: World,
) -> None:
    priced(world)
    big = plan_as(world, "ada", service("web", "1500m", "512Mi"))
    verdict = cost_verdict(big)
    assert big["outcome"] == verdict["verdict"] == "needs_approval"
    projected = Decimal("1.5") * VCPU_HOUR * HOURS  # 111.60
    reason = next(r for r in verdict["reasons"] if r.startswith("budget checkout-monthly"))
    assert f"projected USD {projected:.2f}" in reason and "111.6% of the budget" in reason
    assert "this plan 111.60 until 2027-01-01" in reason
    first = verdict["suggestions"][0]
    assert first.startswith("off-hours web:") or first.startswith("right-size web:")
    right = next(s for s in verdict["suggestions"] if s.startswith("right-size web:"))
    assert "cpu 1500m -> 750m" in right and "(enough to stay within the budget)" in right
    assert verdict["suggestions"][-1].startswith("or ask a platform engineer to approve")
    kinds = [a["kind"] for a in big["cost"]["alternatives"]]
    # The fake provider is not the organisation's own hardware: on-prem is an option too.
    assert set(kinds) == {"right-size", "off-hours", "on-prem"}
    savings = [Decimal(a["monthly_savings"]) for a in big["cost"]["alternatives"]]
    assert savings == sorted(savings, reverse=True)
    cheaper = plan_as(world, "ada", service("web", "750m", "512Mi"))
    assert cost_verdict(cheaper)["verdict"] == "allow" and cheaper["outcome"] == "allow"
    assert world.platform.apply(world.actor("ada"), cheaper["digest"])["status"] == "applied"


def test_thresholds_warn_and_deny(world: World) -> None:
    priced(world)
    warn = plan_as(world, "ada", service("web", "1100m"))  # 81.84 of 100
    assert cost_verdict(warn)["verdict"] == "warn"
    denied = plan_as(world, "ada", service("web", "2"))  # 148.80 of 100
    verdict = cost_verdict(denied)
    assert denied["outcome"] == verdict["verdict"] == "deny"
    assert "148.8% of the budget" in " ".join(verdict["reasons"])
    assert verdict["suggestions"][-1] == "or ask a platform engineer to raise the budget"
    with pytest.raises(GateDenied, match="budget checkout-monthly"):
        world.platform.apply(world.actor("ada"), denied["digest"])


def test_spend_in_the_ledger_counts(world: World) -> None:
    priced(world)
    with world.platform.db.transaction() as session:
        session.add(
            CostEntry(
                at=START,
                period_s=3600.0,
                source="meter",
                project="checkout",
                team="payments",
                environment="dev",
                dimension="cpu",
                quantity=Decimal(1),
                unit="vcpu-hour",
                unit_price=Decimal(40),
                cost=Decimal(40),
                currency="USD",
                extra={},
                ingested_at=START,
            )
        )
    world.clock.advance(3600)
    plan = plan_as(world, "ada", service("web", "1"))  # 74.30 more: 114 % with the 40 spent
    assert cost_verdict(plan)["verdict"] == "needs_approval"
    assert "spent 40.00" in " ".join(cost_verdict(plan)["reasons"])


def test_right_sizing_uses_measured_usage(world: World) -> None:
    priced(world)
    with world.platform.db.transaction() as session:
        for minute in range(20):
            used = Decimal("0.2") if minute < 19 else Decimal("0.25")
            session.add(
                CostEntry(
                    at=START - timedelta(minutes=minute),
                    period_s=60.0,
                    source="meter",
                    resource_name="web",
                    environment="dev",
                    project="checkout",
                    team="payments",
                    dimension="cpu",
                    quantity=used / 60,
                    unit="vcpu-hour",
                    unit_price=VCPU_HOUR,
                    cost=used / 60 * VCPU_HOUR,
                    currency="USD",
                    extra={},
                    ingested_at=START,
                )
            )
    plan = plan_as(world, "ada", service("web", "2"))
    sized = next(a for a in plan["cost"]["alternatives"] if a["kind"] == "right-size")
    # p95 of the 20 samples is 0.2 vCPU; + 20 % headroom = 0.24 vCPU.
    assert sized["change"]["cpu"] == "240m"
    assert "p95 of measured use" in sized["summary"]


def test_right_sizing_stays_inside_the_template_bounds(world: World) -> None:
    priced(world)
    app = doc(
        "Application",
        "shop",
        {
            "template": "web-service",
            "version": "1.0.0",
            "parameters": {},
            "overrides": [
                {"path": "containers.main.resources.limits.cpu", "value": "200m"},
                {"path": "containers.main.resources.limits.memory", "value": "100Mi"},
            ],
        },
    )
    plan = plan_as(world, "ada", app)
    sized = next(a for a in plan["cost"]["alternatives"] if a["kind"] == "right-size")
    # Half of each, but never under the template's minimums (100m, 64Mi).
    assert sized["change"] == {"cpu": "100m", "memory": "64Mi"}


def test_an_approval_holds_budget_until_apply_and_others_see_it(world: World) -> None:
    priced(world)
    big = plan_as(world, "ada", service("web", "1500m"))  # 111.60: needs approval
    assert world.platform.apply(world.actor("ada"), big["digest"])["status"] == "waiting_approval"
    reviewed = world.platform.review(world.actor("pat"), big["digest"], approve=True, reason="ok")
    holds = {r["budget"]: r for r in reviewed["plan"]["reservations"]}
    assert set(holds) == {"checkout-monthly", "payments-monthly"}  # the seeded team budget too
    assert all(r["status"] == "held" for r in holds.values())
    assert Decimal(holds["checkout-monthly"]["amount"]) == Decimal("111.6")
    small = plan_as(world, "ada", service("api", "200m"))  # 14.88, but 111.60 is held
    assert cost_verdict(small)["verdict"] == "deny"
    assert "held 111.60" in " ".join(cost_verdict(small)["reasons"])
    # The approved plan itself is not counted twice at apply.
    applied = world.platform.apply(world.actor("ada"), big["digest"])
    assert applied["status"] == "applied"
    assert [r["status"] for r in applied["plan"]["reservations"]] == ["committed"] * 2
    again = plan_as(world, "ada", service("api", "200m"))
    reasons = " ".join(cost_verdict(again)["reasons"])
    assert "held 0.00" in reasons and "committed 111.60" in reasons


def test_a_rejection_releases_and_an_unused_hold_expires(world: World) -> None:
    priced(world)
    first = plan_as(world, "ada", service("web", "1500m"))
    world.platform.apply(world.actor("ada"), first["digest"])
    world.platform.review(world.actor("pat"), first["digest"], approve=True, reason="ok")
    world.clock.advance(25 * 3600)  # past the hold's expiry, never applied
    small = plan_as(world, "ada", service("api", "100m"))
    assert "held 0.00" in " ".join(cost_verdict(small)["reasons"])
    second = plan_as(world, "ada", service("web", "1400m"))
    world.platform.apply(world.actor("ada"), second["digest"])
    rejected = world.platform.review(
        world.actor("pat"), second["digest"], approve=False, reason="too big"
    )
    assert rejected["plan"]["reservations"] == []
    with world.platform.db.transaction() as session:
        statuses = {r.status for r in session.query(BudgetReservation)}
    assert statuses == {"held"}  # only the expired one, which counts for nothing


def test_two_concurrent_applies_cannot_together_overrun_a_budget(world: World) -> None:
    priced(world)
    # Each alone is 66.96 of 100 (allowed); both together would be 134 % (denied).
    plans = [plan_as(world, "ada", service(name, "900m")) for name in ("left", "right")]
    assert [p["outcome"] for p in plans] == ["allow", "allow"]
    ada = world.actor("ada")
    digests = [str(p["digest"]) for p in plans]
    results, errors = race([partial(world.platform.apply, ada, d) for d in digests])
    assert [r["status"] for r in results] == ["applied"]
    assert len(errors) == 1 and isinstance(errors[0], GateDenied), errors
    assert "budget checkout-monthly" in errors[0].detail
    assert len({"left", "right"} & set(resources(world.platform))) == 1
    assert world.platform.audit_verify()["ok"] is True


def test_budgets_and_price_books_are_platform_engineering(world: World) -> None:
    with pytest.raises(GateDenied, match="Budget, PriceBook needs the platform-engineer"):
        apply_as(world, "ada", budget(), FAKE_RATES)
    with pytest.raises(SpecError, match="budget period 'fortnightly' does not parse"):
        plan_as(world, "pat", budget(period="fortnightly"))
    for scope in ({"project": "chekout"}, {"team": "pay"}, {"environment": "qa"}):
        kind, name = next(iter(scope.items()))
        with pytest.raises(SpecError, match=f"no {kind} named '{name}'") as raised:
            plan_as(world, "pat", budget(scope=scope))
        assert raised.value.issues[0].path == f"$.spec.scope.{kind}"
    new_team = doc("Team", "growth", {})
    assert apply_as(world, "pat", new_team, budget(scope={"team": "growth"}))["status"] == (
        "applied"
    )
    bad = doc(
        "PriceBook",
        "bad",
        {
            "rates": [
                {
                    "sku": "compute.vcpu",
                    "provider": "fake",
                    "region": "local",
                    "price_type": "on_demand",
                    "unit": "vcpu-hour",
                    "amount": "-0.1",
                }
            ]
        },
    )
    with pytest.raises(SpecError, match=r"price '-0\.1' is negative"):
        plan_as(world, "pat", bad)
    assert count(world.platform, BudgetReservation) == 0


def test_plans_that_lower_cost_always_pass(world: World) -> None:
    priced(world, amount="1000")
    apply_as(world, "ada", service("web", "2"))
    priced(world, amount="10")  # the budget shrinks under what already runs
    plan = plan_as(world, "ada", service("web", "1"))
    assert plan["cost"]["monthly_delta"] == "-73.00"
    verdict = cost_verdict(plan)
    assert verdict["verdict"] == "allow" and "does not raise spend" in verdict["reasons"][0]
