"""Gates: the authorization matrix, template bounds, the pipeline and how verdicts combine."""

from __future__ import annotations

from typing import Any

import pytest

from plinth.capabilities.identity.schemas import Actor, Grant, Role
from plinth.core.errors import InvalidInput
from plinth.orchestration.gates.authorization import AuthorizationGate
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind, combine
from plinth.orchestration.gates.pipeline import GatePipeline
from plinth.orchestration.gates.template_bounds import TemplateBoundsGate

ADA = Actor("u1", "ada", "human", "app-developer", grants=(Grant(Role.DEVELOPER, "payments"),))
RITA = Actor(
    "u2",
    "rita",
    "human",
    "app-developer",
    grants=(Grant(Role.RELEASE_MANAGER, "payments"), Grant(Role.DEVELOPER, "payments")),
)
PAT = Actor("u3", "pat", "human", "platform-engineer", grants=(Grant(Role.PLATFORM_ENGINEER),))
LEE = Actor("u4", "lee", "human", "leader", grants=(Grant(Role.VIEWER),))
DANA = Actor("u5", "dana", "human", "ml-engineer", grants=(Grant(Role.ML_ENGINEER, "ml-research"),))
NOBODY = Actor("u6", "nobody", "human", "app-developer")

TIERS = {"dev": ("dev", False), "staging": ("staging", False), "prod": ("prod", True)}


def view(
    environment: str = "dev",
    *,
    kinds: tuple[str, ...] = ("Workload", "Resource"),
    action: str = "create",
    violations: tuple[dict[str, Any], ...] = (),
    protected: bool | None = None,
) -> PlanView:
    """Return a plan of ``kinds`` for project checkout (team payments) in ``environment``."""
    tier, default_protected = TIERS.get(environment, ("dev", False))
    return PlanView(
        environment=environment,
        environment_tier=tier,
        environment_protected=default_protected if protected is None else protected,
        project="checkout",
        team="payments",
        changes=tuple({"kind": k, "name": "x", "action": action} for k in kinds),
        violations=violations,
    )


def authorize(plan: PlanView, actor: Actor) -> Verdict:
    """Run the authorization gate."""
    return AuthorizationGate().evaluate(plan, actor, GateContext())


@pytest.mark.parametrize(
    ("actor", "environment", "expected"),
    [
        (ADA, "dev", VerdictKind.ALLOW),
        (ADA, "staging", VerdictKind.ALLOW),
        (ADA, "prod", VerdictKind.DENY),
        (RITA, "prod", VerdictKind.ALLOW),
        (PAT, "prod", VerdictKind.ALLOW),
        (LEE, "dev", VerdictKind.DENY),
        (DANA, "dev", VerdictKind.DENY),  # another team's project
        (NOBODY, "dev", VerdictKind.DENY),
    ],
    ids=lambda v: v.name if isinstance(v, Actor) else str(v),
)
def test_authorization_matrix_for_workloads(
    actor: Actor, environment: str, expected: VerdictKind
) -> None:
    verdict = authorize(view(environment), actor)
    assert verdict.verdict == expected
    assert verdict.gate == "authorization"
    assert verdict.reasons  # allow and deny both say why
    if expected == VerdictKind.DENY:
        assert verdict.suggestions


def test_developer_in_prod_is_told_which_role_is_missing() -> None:
    verdict = authorize(view("prod"), ADA)
    reason = verdict.reasons[0]
    assert "release-manager" in reason and "'prod'" in reason
    assert "developer@payments" in reason  # what the actor holds
    assert "release manager" in verdict.suggestions[0]


def test_a_protected_non_prod_environment_is_guarded_like_prod() -> None:
    assert authorize(view("staging", protected=True), ADA).verdict == VerdictKind.DENY
    assert authorize(view("staging", protected=True), RITA).verdict == VerdictKind.ALLOW


def test_viewer_is_told_to_ask_the_owning_team() -> None:
    verdict = authorize(view("dev"), LEE)
    assert "team 'payments'" in verdict.reasons[0]
    assert "viewer@org" in verdict.reasons[0]


@pytest.mark.parametrize("kind", ["Template", "Environment", "Team", "Project"])
def test_organisation_kinds_need_a_platform_engineer(kind: str) -> None:
    plan = view("dev", kinds=(kind,))
    for actor in (ADA, RITA, LEE, DANA):
        verdict = authorize(plan, actor)
        assert verdict.verdict == VerdictKind.DENY, actor.name
        assert "platform-engineer" in verdict.reasons[0]
        assert kind in verdict.reasons[0]
    assert authorize(plan, PAT).verdict == VerdictKind.ALLOW


def test_no_op_changes_need_no_role() -> None:
    plan = view("prod", kinds=("Workload", "Template"), action="no-op")
    assert authorize(plan, LEE).verdict == VerdictKind.ALLOW


def test_mixed_plan_reports_every_missing_role() -> None:
    verdict = authorize(view("prod", kinds=("Team", "Workload")), ADA)
    assert verdict.verdict == VerdictKind.DENY
    assert len(verdict.reasons) == 2


def test_template_bounds_gate() -> None:
    gate = TemplateBoundsGate()
    inside = gate.evaluate(view(), ADA, GateContext())
    assert inside.verdict == VerdictKind.ALLOW
    violation = {
        "application": "shop",
        "workload": "shop",
        "path": "containers.main.resources.limits.memory",
        "message": "2Gi is above the maximum 1Gi",
    }
    outside = gate.evaluate(view(violations=(violation,)), ADA, GateContext())
    assert outside.verdict == VerdictKind.NEEDS_APPROVAL
    assert outside.reasons == ("shop/shop: 2Gi is above the maximum 1Gi",)
    assert any("approve" in s for s in outside.suggestions)


def test_pipeline_from_names_runs_gates_in_order() -> None:
    pipeline = GatePipeline.from_names(["template-bounds", "authorization"])
    verdicts = pipeline.evaluate(view("prod"), ADA, GateContext())
    assert [v.gate for v in verdicts] == ["template-bounds", "authorization"]
    assert combine(verdicts) == VerdictKind.DENY
    assert GatePipeline.from_names([]).evaluate(view(), ADA, GateContext()) == []


def test_pipeline_refuses_unknown_gates() -> None:
    with pytest.raises(InvalidInput, match="unknown gates \\['telepathy'\\]") as raised:
        GatePipeline.from_names(["authorization", "telepathy"])
    assert "authorization" in raised.value.detail  # lists what is installed


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ([], VerdictKind.ALLOW),
        ([VerdictKind.ALLOW, VerdictKind.ALLOW], VerdictKind.ALLOW),
        ([VerdictKind.ALLOW, VerdictKind.WARN], VerdictKind.WARN),
        ([VerdictKind.NEEDS_APPROVAL, VerdictKind.WARN], VerdictKind.NEEDS_APPROVAL),
        ([VerdictKind.DENY, VerdictKind.NEEDS_APPROVAL], VerdictKind.DENY),
        ([VerdictKind.WARN, VerdictKind.DENY, VerdictKind.ALLOW], VerdictKind.DENY),
    ],
)
def test_combine_takes_the_most_severe(kinds: list[VerdictKind], expected: VerdictKind) -> None:
    verdicts = [Verdict(f"g{i}", k, ("because",)) for i, k in enumerate(kinds)]
    assert combine(verdicts) == expected
    assert combine(list(reversed(verdicts))) == expected


def test_verdicts_round_trip_through_json_data() -> None:
    verdict = Verdict("authorization", VerdictKind.DENY, ("no",), ("ask",))
    assert Verdict.from_dict(verdict.as_dict()) == verdict
