"""The CLI shows each resource's monthly cost, the plan's delta and cheaper alternatives."""

from __future__ import annotations

from typing import Any

import pytest

from plinth.experience.cli.plan_view import cost_line, print_plan


def plan(verdict: str) -> dict[str, Any]:
    """Return a plan as the API sends it, with one priced update."""
    money = {"currency": "USD", "breakdown": [], "notes": []}
    return {
        "digest": "d" * 64,
        "environment": "dev",
        "project": "checkout",
        "status": "planned",
        "outcome": verdict,
        "changes": [
            {
                "kind": "Resource",
                "type": "service",
                "name": "web",
                "action": "update",
                "before": {"resources": {"cpu": "1"}},
                "after": {"resources": {"cpu": "2"}},
                "reasons": [],
                "cost": money | {"monthly": "146.000000", "hourly": "0.2"},
                "cost_before": money | {"monthly": "73.000000", "hourly": "0.1"},
            },
            {
                "kind": "Resource",
                "type": "route",
                "name": "web-route",
                "action": "no-op",
                "before": {},
                "after": {},
                "reasons": [],
                "cost": money | {"monthly": "0", "hourly": "0"},
            },
        ],
        "verdicts": [
            {"gate": "cost", "verdict": verdict, "reasons": ["budget b: 146%"], "suggestions": []}
        ],
        "cost": {
            "currency": "USD",
            "price_book": "2025.07",
            "monthly_before": "73.00",
            "monthly_after": "146.00",
            "monthly_delta": "73.00",
            "hourly_delta": "0.1",
            "alternatives": [
                {
                    "kind": "right-size",
                    "resource": "web",
                    "summary": "cpu 2 -> 1",
                    "monthly_savings": "73.00",
                }
            ],
        },
    }


def test_plan_shows_costs_and_alternatives(capsys: pytest.CaptureFixture[str]) -> None:
    print_plan(plan("needs_approval"))
    shown = capsys.readouterr().out
    assert "USD 73.00 → USD 146.00/month" in shown
    assert "USD 0.00/month" in shown
    assert "Cost: USD +73.00/month (USD 73.00 → USD 146.00; price book 2025.07)" in shown
    assert "Cheaper alternatives" in shown and "cpu 2 -> 1" in shown


def test_alternatives_are_not_shown_when_the_cost_gate_allows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_plan(plan("allow"))
    assert "Cheaper alternatives" not in capsys.readouterr().out


def test_cost_line_signs_savings() -> None:
    line = cost_line(
        {"currency": "EUR", "monthly_delta": "-5", "monthly_before": "10", "monthly_after": "5"}
    )
    assert line == "Cost: EUR -5.00/month (EUR 10.00 → EUR 5.00; price book ?)"
