"""The authorization gate's rules for the janitor role, on plain plan views."""

from __future__ import annotations

import pytest

from plinth.capabilities.identity.schemas import Actor, Grant, Role
from plinth.orchestration.gates.authorization import AuthorizationGate
from plinth.orchestration.gates.base import GateContext, PlanView, VerdictKind

JANITOR = Actor("u9", "janitor", "agent", "agent", grants=(Grant(Role.JANITOR),))
BOTH = Actor(
    "u10",
    "pat-janitor",
    "human",
    "platform-engineer",
    grants=(Grant(Role.JANITOR), Grant(Role.PLATFORM_ENGINEER)),
)
TIERS = {"dev": ("dev", False), "prod": ("prod", True), "protected": ("staging", True)}


def view(environment: str, *changes: tuple[str, str]) -> PlanView:
    """Return a plan of (kind, action) changes in project checkout of team payments."""
    tier, protected = TIERS[environment]
    return PlanView(
        environment=environment,
        environment_tier=tier,
        environment_protected=protected,
        project="checkout",
        team="payments",
        changes=tuple({"kind": k, "name": "web", "action": a} for k, a in changes),
    )


MARK = (("Workload", "update"), ("Resource", "no-op"))
STOP = (("Workload", "update"), ("Resource", "update"))
DELETE = (("Workload", "delete"), ("Resource", "delete"))


@pytest.mark.parametrize(
    ("environment", "changes", "expected"),
    [
        ("dev", MARK, VerdictKind.ALLOW),
        ("dev", STOP, VerdictKind.ALLOW),
        ("dev", DELETE, VerdictKind.ALLOW),
        ("prod", MARK, VerdictKind.ALLOW),
        ("prod", STOP, VerdictKind.NEEDS_APPROVAL),
        ("prod", DELETE, VerdictKind.NEEDS_APPROVAL),
        ("protected", STOP, VerdictKind.NEEDS_APPROVAL),
        ("dev", (("Workload", "create"), ("Resource", "create")), VerdictKind.DENY),
        ("dev", (("Application", "update"),), VerdictKind.DENY),
        ("dev", (("Team", "update"),), VerdictKind.DENY),
        ("prod", (("Workload", "update"), ("Application", "delete")), VerdictKind.DENY),
    ],
)
def test_janitor_rules(
    environment: str, changes: tuple[tuple[str, str], ...], expected: VerdictKind
) -> None:
    verdict = AuthorizationGate().evaluate(view(environment, *changes), JANITOR, GateContext())
    assert verdict.verdict is expected
    if expected is not VerdictKind.ALLOW:
        assert verdict.reasons and verdict.suggestions


def test_the_role_adds_rights_and_never_takes_any() -> None:
    gate = AuthorizationGate()
    create_in_prod = view("prod", ("Workload", "create"), ("Application", "create"))
    assert gate.evaluate(create_in_prod, BOTH, GateContext()).verdict is VerdictKind.ALLOW
    denied = gate.evaluate(create_in_prod, JANITOR, GateContext())
    assert "creating web" in denied.reasons[0] or "Application" in denied.reasons[0]
