"""The cost gate's rules on plain data: thresholds, boundaries, currencies, no budget."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.gates.base import GateContext, PlanView, VerdictKind
from plinth.orchestration.gates.cost import CostGate, projected_spend

ADA = Actor(id="u1", name="ada", kind="human", persona="app-developer", grants=())


def view(cost: dict[str, Any] | None, budgets: list[dict[str, Any]]) -> PlanView:
    """Return a plan view with the cost facts the planner and decisions attach."""
    return PlanView(
        environment="dev",
        environment_tier="dev",
        environment_protected=False,
        project="checkout",
        team="payments",
        changes=(),
        extra={"cost": cost or {}, "budgets": budgets},
    )


def cost(hourly: str, alternatives: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return a plan cost summary whose hourly delta is ``hourly``."""
    monthly = Decimal(hourly) * 730
    return {
        "currency": "USD",
        "monthly_delta": f"{monthly:.2f}",
        "hourly_delta": hourly,
        "alternatives": alternatives or [],
    }


def budget(*, amount: str = "100", spent: str = "0", currency: str = "USD") -> dict[str, Any]:
    """Return budget facts with 100 hours left in the period."""
    return {
        "name": "b",
        "scope": {"team": "payments"},
        "amount": amount,
        "currency": currency,
        "period": "monthly",
        "thresholds": {"warn": "0.8", "needs_approval": "1.0", "deny": "1.2"},
        "period_start": "2026-12-01T00:00:00+00:00",
        "period_end": "2027-01-01T00:00:00+00:00",
        "hours_left": "100",
        "spent": spent,
        "committed": "0",
        "held": "0",
    }


def verdict(cost_: dict[str, Any] | None, budgets: list[dict[str, Any]]) -> Any:
    """Return the gate's verdict."""
    return CostGate().evaluate(view(cost_, budgets), ADA, GateContext())


@pytest.mark.parametrize(
    ("hourly", "expected"),
    [
        ("0.79", VerdictKind.ALLOW),
        ("0.8", VerdictKind.WARN),  # reaching warn warns
        ("1.0", VerdictKind.WARN),  # exactly the budget is still within it
        ("1.01", VerdictKind.NEEDS_APPROVAL),
        ("1.2", VerdictKind.NEEDS_APPROVAL),
        ("1.21", VerdictKind.DENY),
    ],
)
def test_thresholds_and_their_boundaries(hourly: str, expected: VerdictKind) -> None:
    assert verdict(cost(hourly), [budget()]).verdict == expected


def test_projection_adds_the_plan_for_the_rest_of_the_period() -> None:
    facts = budget(spent="10") | {"committed": "20", "held": "5"}
    assert projected_spend(facts, Decimal("0.5")) == Decimal(85)


def test_no_cost_no_budget_and_savings_are_allowed() -> None:
    assert verdict(None, [budget()]).reasons == ("nothing in this plan is priced",)
    assert "no budget covers it" in verdict(cost("5"), []).reasons[0]
    lowering = verdict(cost("-1"), [budget(spent="500")])
    assert lowering.verdict == VerdictKind.ALLOW and "does not raise spend" in lowering.reasons[0]


def test_another_currency_is_not_compared_but_warned() -> None:
    result = verdict(cost("0.1"), [budget(currency="EUR")])
    assert result.verdict == VerdictKind.WARN
    assert "budget b is in EUR but prices are in USD" in result.reasons[1]


def test_alternatives_become_ranked_suggestions_that_say_when_they_suffice() -> None:
    alternatives = [
        {
            "kind": "spot",
            "resource": "web",
            "summary": "run on spot capacity",
            "monthly_savings": "500.00",
        },
        {
            "kind": "right-size",
            "resource": "web",
            "summary": "cpu 2 -> 1",
            "monthly_savings": "20.00",
        },
    ]
    result = verdict(cost("1.1", alternatives), [budget()])
    assert result.verdict == VerdictKind.NEEDS_APPROVAL
    assert result.suggestions == (
        "spot web: run on spot capacity; saves USD 500.00/month (enough to stay within the budget)",
        "right-size web: cpu 2 -> 1; saves USD 20.00/month",
        "or ask a platform engineer to approve the overrun: plinth approvals approve DIGEST",
    )
    assert "projected USD 110.00" in result.reasons[1] and "110% of the budget" in result.reasons[1]
