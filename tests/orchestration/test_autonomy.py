"""The autonomy gate: an agent alone inside its envelope, a human beyond it (pure, no store)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from plinth.capabilities.identity.schemas import Actor, Grant, Role
from plinth.orchestration.gates.autonomy import (
    AutonomyGate,
    plan_actions,
    requested_accelerators,
)
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

BOT = Actor("u9", "bot", "agent", "agent", grants=(Grant("agent", "payments"),))
JANITOR = Actor("u8", "janitor", "agent", "agent", grants=(Grant(Role.JANITOR),))
ADA = Actor("u1", "ada", "human", "app-developer", grants=(Grant(Role.DEVELOPER, "payments"),))

ENVELOPE: dict[str, Any] = {
    "actions": ["create", "update"],
    "environments": ["dev", "staging"],
    "max_cost_delta_per_change": "25",
    "max_cost_delta_per_day": "40",
    "max_accelerators": 1,
    "may_delete": False,
    "may_touch_prod": False,
    "approval_ttl_seconds": 3600,
}
TIERS = {"dev": ("dev", False), "staging": ("staging", False), "prod": ("prod", True)}


def agent(**changes: Any) -> dict[str, Any]:
    """Return the facts of agent bot (owner team payments), with some changed."""
    facts: dict[str, Any] = {
        "name": "bot",
        "team": "payments",
        "currency": "USD",
        "spent_today": "0.00",
        "accelerators": 0,
        "autonomy": dict(ENVELOPE),
    }
    envelope = changes.pop("autonomy", {})
    facts.update(changes)
    facts["autonomy"].update(envelope)
    return facts


def view(
    environment: str = "dev",
    *,
    actions: tuple[str, ...] = ("create",),
    delta: str | None = "10.00",
    facts: Mapping[str, Any] | bool | None = True,
) -> PlanView:
    """Return a plan of bot's in ``environment`` (facts False: nobody looked the agent up)."""
    tier, protected = TIERS[environment]
    extra: dict[str, Any] = {"cost": {"currency": "USD", "monthly_delta": delta} if delta else {}}
    if facts is True:
        extra["agent"] = agent()
    elif facts is not False:
        extra["agent"] = facts
    return PlanView(
        environment=environment,
        environment_tier=tier,
        environment_protected=protected,
        project="checkout",
        team="payments",
        changes=tuple(
            {"kind": "Resource", "name": f"r{i}", "action": a} for i, a in enumerate(actions)
        ),
        extra=extra,
    )


def gate(plan: PlanView, actor: Actor = BOT) -> Verdict:
    """Run the autonomy gate."""
    return AutonomyGate().evaluate(plan, actor, GateContext())


def test_inside_the_envelope_is_allowed() -> None:
    verdict = gate(view())
    assert verdict.verdict == VerdictKind.ALLOW
    assert verdict.reasons == ("inside bot's autonomy envelope",)


def test_humans_and_the_janitor_are_not_limited() -> None:
    assert gate(view("prod", actions=("delete",)), ADA).reasons == ("ada is not an agent",)
    janitor = gate(view("prod", actions=("delete",), facts=None), JANITOR)
    assert janitor.verdict == VerdictKind.ALLOW
    assert "not a registered agent" in janitor.reasons[0]


def test_an_agent_nobody_looked_up_needs_approval() -> None:
    verdict = gate(view(facts=False))
    assert verdict.verdict == VerdictKind.NEEDS_APPROVAL
    assert "unknown" in verdict.reasons[0]


def test_facts_of_another_agent_do_not_count() -> None:
    other = Actor("u7", "other", "agent", "agent")
    assert "not a registered agent" in gate(view(), other).reasons[0]


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            view(delta="40.00"),
            "the change adds 40.00 USD/month; bot may add at most 25.00 USD/month per change "
            "without approval",
        ),
        (
            view(facts=agent(spent_today="35.5")),
            "with this change bot would add 45.50 USD/month today (35.50 USD/month already "
            "applied since 00:00 UTC); bot may add at most 40.00 USD/month per day without "
            "approval",
        ),
        (
            view(facts=agent(accelerators=2)),
            "the change asks for 2 accelerators; bot may use at most 1 without approval",
        ),
        (
            view(facts=agent(autonomy={"environments": ["dev"]}), environment="staging"),
            "the change is in environment 'staging'; bot may change only dev without approval",
        ),
        (
            view(actions=("delete",), facts=agent(autonomy={"actions": ["create", "delete"]})),
            "the change deletes or replaces r0; bot may not delete without approval "
            "(may_delete is false)",
        ),
        (
            view(actions=("update", "delete"), facts=agent(autonomy={"may_delete": True})),
            "the change would delete; bot may only create and update without approval",
        ),
    ],
)
def test_each_limit_crossed_is_one_reason_that_names_it(plan: PlanView, expected: str) -> None:
    verdict = gate(plan)
    assert verdict.verdict == VerdictKind.NEEDS_APPROVAL
    assert verdict.reasons == (expected,)
    assert verdict.suggestions and "team 'payments'" in verdict.suggestions[0]


def test_production_crosses_environment_and_prod_limits() -> None:
    verdict = gate(view("prod", facts=agent(autonomy={"environments": ["dev", "prod"]})))
    assert verdict.reasons == (
        "environment 'prod' is production; bot may not touch production without approval "
        "(may_touch_prod is false)",
    )
    assert "a release manager of team 'payments'" in verdict.suggestions[0]
    everything = gate(view("prod", actions=("replace",), delta="99"))
    assert len(everything.reasons) == 5  # environment, prod, delete, per change, per day
    allowed = agent(autonomy={"environments": ["prod"], "may_touch_prod": True, "may_delete": True})
    assert gate(view("prod", actions=("replace",), facts=allowed)).verdict == VerdictKind.ALLOW


def test_no_limit_set_means_no_limit_and_savings_never_need_approval() -> None:
    unlimited = agent(
        autonomy={"max_cost_delta_per_change": None, "max_cost_delta_per_day": None},
        accelerators=8,
    )
    unlimited["autonomy"]["max_accelerators"] = None
    assert gate(view(delta="5000", facts=unlimited)).verdict == VerdictKind.ALLOW
    spent = agent(spent_today="40.00")
    assert gate(view(actions=("update",), delta="-12.00", facts=spent)).verdict == (
        VerdictKind.ALLOW
    )
    assert gate(view(delta=None, facts=spent)).verdict == VerdictKind.ALLOW


def test_an_envelope_without_actions_allows_nothing_alone() -> None:
    verdict = gate(view(facts=agent(autonomy={"actions": []})))
    assert verdict.reasons == (
        "the change would create; bot may not create, update or delete anything without approval",
    )


def test_plan_actions_and_requested_accelerators() -> None:
    plan = view(actions=("create", "replace", "no-op"))
    assert plan_actions(plan) == {"create", "update"}
    changes: list[dict[str, Any]] = [
        {"kind": "Resource", "action": "create", "after": {"accelerators": {"count": 2}}},
        {
            "kind": "Resource",
            "action": "update",
            "after": {"replicas": 3, "accelerators": {"count": "1", "type": "h100"}},
        },
        {"kind": "Resource", "action": "delete", "after": None},
        {"kind": "Workload", "action": "create", "after": {"accelerators": {"count": 5}}},
        {"kind": "Resource", "action": "create", "after": {"accelerators": {"count": "x"}}},
    ]
    assert requested_accelerators(changes) == 5
    assert requested_accelerators([]) == 0
