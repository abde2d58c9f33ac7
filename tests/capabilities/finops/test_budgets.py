"""Budgets: periods, validation, and the forecast (spent + committed + held) on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from plinth.capabilities.finops import committed, reservations
from plinth.capabilities.finops.budgets import (
    budget_facts,
    budgets_for,
    forecast,
    list_budgets,
    parse_budget,
    parse_period,
    reserve_for_plan,
)
from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.core.clock import FrozenClock
from plinth.core.errors import InvalidInput, SpecError
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database

NOW = datetime(2026, 12, 11, 0, 0, tzinfo=UTC)  # 10 days into December: 21 x 24 h left


def budget(**spec: Any) -> dict[str, Any]:
    """Return a Budget document for team payments, 100 USD a month, unless told otherwise."""
    base = {"scope": {"team": "payments"}, "amount": 100, "currency": "USD", "period": "monthly"}
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "Budget",
        "metadata": {"name": "payments-monthly"},
        "spec": base | spec,
    }


@pytest.mark.parametrize(
    ("text", "now", "start", "end"),
    [
        ("monthly", NOW, datetime(2026, 12, 1), datetime(2027, 1, 1)),
        ("P1M", NOW, datetime(2026, 12, 1), datetime(2027, 1, 1)),
        ("quarterly", NOW, datetime(2026, 10, 1), datetime(2027, 1, 1)),
        ("P3M", datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 1, 1), datetime(2026, 4, 1)),
        ("yearly", NOW, datetime(2026, 1, 1), datetime(2027, 1, 1)),
        ("P1Y", NOW, datetime(2026, 1, 1), datetime(2027, 1, 1)),
        ("P1W", NOW, datetime(2026, 12, 7), datetime(2026, 12, 14)),
        ("P1D", NOW, datetime(2026, 12, 11), datetime(2026, 12, 12)),
    ],
)
def test_periods_and_their_windows(
    text: str, now: datetime, start: datetime, end: datetime
) -> None:
    window = parse_period(text).window(now)
    assert window == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))
    assert window[0] <= now < window[1]


@pytest.mark.parametrize("text", ["weekly-ish", "P1M2D", "PT1H", "1M", "P0M", "", 30, None])
def test_bad_periods_are_a_clear_error(text: Any) -> None:
    with pytest.raises(InvalidInput, match="does not parse: use monthly, quarterly, yearly"):
        parse_period(text)


def test_a_budget_needs_a_positive_amount() -> None:
    with pytest.raises(SpecError, match="amount: must be more than zero"):
        parse_budget(budget(amount=0))
    with pytest.raises(SpecError, match="amount None is not a number"):
        parse_budget(budget(amount=None))


def test_a_budget_document_is_parsed_with_defaults() -> None:
    parsed = parse_budget(budget(amount="250.50"))
    assert (parsed.scope_kind, parsed.scope_name) == ("team", "payments")
    assert parsed.amount == Decimal("250.50") and parsed.period.months == 1
    assert parsed.thresholds == {
        "warn": Decimal("0.8"),
        "needs_approval": Decimal("1.0"),
        "deny": Decimal("1.2"),
    }
    assert parsed.covers(environment="dev", project="checkout", team="payments")
    assert not parsed.covers(environment="dev", project="checkout", team="")


def test_every_problem_of_a_budget_is_reported_with_its_path() -> None:
    doc = budget(
        scope={"team": "payments", "project": "checkout"},
        amount=-5,
        period="every month",
        thresholds={"warn": "high", "deny": 0.5},
    )
    with pytest.raises(SpecError) as raised:
        parse_budget(doc, document=1, file="budget.yaml")
    found = {(i.path, i.message.split(":")[0]) for i in raised.value.issues}
    assert found == {
        ("$.spec.scope", "needs exactly one of team, project, environment"),
        ("$.spec.amount", "amount -5 is negative"),
        ("$.spec.period", "budget period 'every month' does not parse"),
        ("$.spec.thresholds.warn", "threshold 'high' is not a number"),
        ("$.spec.thresholds", "thresholds must satisfy warn <= needs_approval <= deny"),
    }
    assert all(i.file == "budget.yaml" and i.document == 1 for i in raised.value.issues)


def organisation(session: Session, ids: SequentialIds, clock: FrozenClock) -> None:
    """Teams payments and ml; projects checkout (payments) and recommender (ml); env dev."""
    for team in ("payments", "ml"):
        identity.upsert_team(session, name=team, description="", ids=ids, clock=clock)
    for project, team in (("checkout", "payments"), ("recommender", "ml")):
        identity.upsert_project(
            session, name=project, team=team, description="", ids=ids, clock=clock
        )
    identity.upsert_environment(
        session,
        name="dev",
        tier="dev",
        protected=False,
        region="us-east-1",
        description="",
        ids=ids,
        clock=clock,
    )


def store(session: Session, ids: SequentialIds, clock: FrozenClock, body: dict[str, Any]) -> None:
    """Store a document as if a plan applied it."""
    inventory.put_document(
        session,
        kind=body["kind"],
        name=body["metadata"]["name"],
        body=body,
        actor="pat",
        plan_digest="",
        ids=ids,
        clock=clock,
    )


def service(
    session: Session, ids: SequentialIds, clock: FrozenClock, project: str, cpu: str
) -> None:
    """Desire an aws service of ``cpu`` vCPUs and no memory in ``project``."""
    inventory.put_desired(
        session,
        environment="dev",
        project=project,
        name=f"svc-{project}",
        type="service",
        provider="aws",
        workload="",
        spec={"resources": {"cpu": cpu, "memory": "0"}},
        depends_on=[],
        refs=[],
        ids=ids,
        clock=clock,
    )
    committed.rebuild(session)  # the applier keeps it current; this test writes rows directly


def spend(session: Session, *, team: str, at: datetime, cost: str, source: str = "meter") -> None:
    """Add one ledger row."""
    session.add(
        CostEntry(
            at=at,
            period_s=3600.0,
            source=source,
            team=team,
            dimension="cpu",
            quantity=Decimal(1),
            unit="vcpu-hour",
            unit_price=Decimal(cost),
            cost=Decimal(cost),
            currency="USD",
            extra={},
            ingested_at=at,
        )
    )


def test_forecast_is_spent_plus_committed_plus_held(database: Database) -> None:
    clock, ids = FrozenClock(NOW), SequentialIds()
    with database.transaction() as session:
        organisation(session, ids, clock)
        store(session, ids, clock, budget())
        service(session, ids, clock, "checkout", "2")
        service(session, ids, clock, "recommender", "8")  # another team's: not counted
        spend(session, team="payments", at=NOW - timedelta(days=2), cost="7.5")
        spend(session, team="payments", at=NOW - timedelta(days=20), cost="99")  # last period
        spend(session, team="payments", at=NOW - timedelta(days=1), cost="3", source="estimate")
        spend(session, team="ml", at=NOW - timedelta(days=1), cost="50")
        spend(session, team="payments", at=NOW - timedelta(hours=1), cost="1.25", source="billing")
        reservations.hold(
            session,
            budget="payments-monthly",
            plan_digest="p1",
            amount=Decimal("4"),
            currency="USD",
            ids=ids,
            clock=clock,
        )
        reservations.hold(
            session,
            budget="payments-monthly",
            plan_digest="p2",
            amount=Decimal("6"),
            currency="USD",
            ids=ids,
            clock=clock,
        )
    with database.transaction() as session:
        (parsed,) = budgets_for(session, environment="dev", project="checkout", team="payments")
        result = forecast(session, parsed, now=NOW)
        assert result.spent == Decimal("8.75")
        hours = Decimal(21 * 24)
        assert result.hours_left == hours
        assert result.committed == Decimal("2") * Decimal("0.04048") * hours
        assert result.held == Decimal(10)
        assert forecast(session, parsed, now=NOW, exclude_plan="p2").held == Decimal(4)
        assert result.total == result.spent + result.committed + result.held
        facts = budget_facts(
            session, environment="dev", project="checkout", team="payments", now=NOW
        )
        assert [f["name"] for f in facts] == ["payments-monthly"]
        assert facts[0]["spent"] == "8.750000" and facts[0]["held"] == "10.000000"
        assert facts[0]["period_end"].startswith("2027-01-01")
        assert (
            budget_facts(session, environment="dev", project="recommender", team="ml", now=NOW)
            == []
        )


def test_reservations_are_held_committed_released_and_expire(database: Database) -> None:
    clock, ids = FrozenClock(NOW), SequentialIds()
    with database.transaction() as session:
        organisation(session, ids, clock)
        store(session, ids, clock, budget())
        held = reserve_for_plan(
            session,
            environment="dev",
            project="checkout",
            team="payments",
            cost={"hourly_delta": "0.5"},
            plan_digest="plan-a",
            ids=ids,
            clock=clock,
        )
        assert [(r.budget, r.amount, r.status) for r in held] == [
            ("payments-monthly", Decimal("0.5") * 21 * 24, "held")
        ]
        assert (
            reserve_for_plan(
                session,
                environment="dev",
                project="checkout",
                team="payments",
                cost={"hourly_delta": "-1"},
                plan_digest="plan-b",
                ids=ids,
                clock=clock,
            )
            == []
        )
        # Holding again replaces the plan's hold instead of adding to it.
        reserve_for_plan(
            session,
            environment="dev",
            project="checkout",
            team="payments",
            cost={"hourly_delta": "0.5"},
            plan_digest="plan-a",
            ids=ids,
            clock=clock,
        )
        assert reservations.held_amount(session, budget="payments-monthly", now=NOW) == 252
        later = NOW + reservations.RESERVATION_TTL + timedelta(seconds=1)
        assert reservations.held_amount(session, budget="payments-monthly", now=later) == 0
        assert reservations.commit(session, plan_digest="plan-a") == 1
        assert reservations.held_amount(session, budget="payments-monthly", now=NOW) == 0
        statuses = [r.status for r in reservations.of_plan(session, "plan-a")]
        assert sorted(statuses) == ["committed", "released"]
        reservations.hold(
            session,
            budget="payments-monthly",
            plan_digest="plan-c",
            amount=Decimal(1),
            currency="USD",
            ids=ids,
            clock=clock,
        )
        assert reservations.release(session, plan_digest="plan-c") == 1
        assert reservations.held_for_plan(session, "plan-c") == []


def test_stored_budgets_are_listed(database: Database) -> None:
    clock, ids = FrozenClock(NOW), SequentialIds()
    with database.transaction() as session:
        organisation(session, ids, clock)
        store(session, ids, clock, budget())
        other = budget(scope={"environment": "dev"}, period="P1W")
        other["metadata"]["name"] = "dev-weekly"
        store(session, ids, clock, other)
    with database.transaction() as session:
        assert [b.name for b in list_budgets(session)] == ["dev-weekly", "payments-monthly"]
        covering = budgets_for(session, environment="dev", project="recommender", team="ml")
        assert [b.name for b in covering] == ["dev-weekly"]


def test_public_surfaces_are_pinned() -> None:
    from plinth.capabilities.finops import budgets

    assert sorted(budgets.__all__) == [
        "Budget",
        "Forecast",
        "Period",
        "SCOPES",
        "budget_facts",
        "budgets_for",
        "forecast",
        "list_budgets",
        "parse_budget",
        "parse_period",
        "reserve_for_plan",
    ]
    assert sorted(reservations.__all__) == [
        "RESERVATION_TTL",
        "commit",
        "held_amount",
        "held_for_plan",
        "hold",
        "of_plan",
        "release",
    ]
