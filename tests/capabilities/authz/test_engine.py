"""The authorizer: extensions, explanations, failing closed, caching, and the helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plinth.capabilities.authz import (
    Authorizer,
    AuthzRequest,
    authorizer_for,
    change_request,
    tool_granted,
    tool_request,
)
from plinth.capabilities.authz.policies import statement_lines
from plinth.capabilities.authz.requests import cost_cents
from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.core.errors import InvalidInput

ADA = Actor("u1", "ada", "human", "app-developer", grants=(Grant("developer", "payments"),))
PAT = Actor("u3", "pat", "human", "platform-engineer", grants=(Grant("platform-engineer"),))
DEPLOYER = Actor("a1", "deployer", "agent", "agent", grants=(Grant("agent", "payments"),))
FRIDAY_EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def workload_change(actor: Actor, environment: str = "dev", **facts: object) -> AuthzRequest:
    """Return a change of a workload of project checkout (team payments)."""
    tier = "prod" if environment == "prod" else "dev"
    return change_request(
        actor,
        environment=environment,
        tier=tier,
        protected=environment == "prod",
        project="checkout",
        team="payments",
        changes=[{"kind": "Workload", "name": "web", "action": "update"}],
        part="project",
        cost_delta=facts.get("cost", "0"),
    )


def org_change(actor: Actor, kind: str) -> AuthzRequest:
    """Return a change of an organisation document."""
    return change_request(
        actor,
        environment="dev",
        tier="dev",
        protected=False,
        project="",
        team="",
        changes=[{"kind": kind, "name": "x", "action": "update"}],
        part="organisation",
    )


FREEZE = """
@id("friday-freeze")
@reason("no production changes on Friday evenings")
@suggestion("wait until Monday")
forbid (
  principal,
  action in [Plinth::Action::"change", Plinth::Action::"change_with_approval"],
  resource
)
when { context.tier == "prod" && context.weekday == 4 && context.hour >= 16 };
"""


def test_an_extension_forbid_uses_the_time_and_names_its_set() -> None:
    authorizer = Authorizer.default([("freeze", FREEZE)])
    friday = authorizer.decide(workload_change(PAT, "prod"), now=FRIDAY_EVENING)
    assert (friday.outcome, friday.policies) == ("deny", ("freeze.friday-freeze",))
    assert friday.reasons == ("no production changes on Friday evenings",)
    assert friday.suggestions == ("wait until Monday",)
    monday = authorizer.decide(workload_change(PAT, "prod"), now=MONDAY_MORNING)
    assert monday.outcome == "allow"


def test_an_extension_turns_a_costly_change_into_an_approval() -> None:
    ceiling = """
    @id("cost-ceiling")
    @reason("changes adding more than 100.00 a month need an approval")
    forbid (principal, action == Plinth::Action::"change", resource)
    when { context.cost_delta_cents > 10000 };

    @id("costly-with-approval")
    @reason("a team member may ask for a costly change with an approval")
    permit (principal, action == Plinth::Action::"change_with_approval", resource)
    when { context.part == "project" && principal.hasTag(context.team) };
    """
    authorizer = Authorizer.default([("finops", ceiling)])
    cheap = authorizer.decide(workload_change(ADA, cost="12.50"))
    assert cheap.outcome == "allow"
    costly = authorizer.decide(workload_change(ADA, cost="250.00"))
    assert (costly.outcome, costly.policies) == ("needs_approval", ("finops.costly-with-approval",))


def test_the_default_forbid_holds_even_when_an_extension_permits() -> None:
    generous = """
    @id("agents-do-anything")
    permit (principal is Plinth::Agent, action, resource);
    """
    authorizer = Authorizer.default([("generous", generous)])
    assert authorizer.decide(org_change(DEPLOYER, "Template")).outcome == "allow"
    for kind in ("Agent", "AuthorizationPolicy", "McpServer"):
        decision = authorizer.decide(org_change(DEPLOYER, kind))
        assert decision.outcome == "deny"
        assert decision.policies == ("default.agents-never-widen-their-envelope",)
    plan = {"type": "Plan", "id": "p1", "attrs": {"team": "payments", "author": "ada"}}
    approve = authorizer.decide(AuthzRequest(DEPLOYER, "approve", plan, {"team": "payments"}))
    assert approve.policies == ("default.agents-never-approve",)


def test_invalid_cedar_names_the_policy_set_and_the_line() -> None:
    broken = (
        "permit (principal, action, resource);\n\n// two\n"
        "forbid (principal,\n  action\n  resource);\n"
    )
    with pytest.raises(InvalidInput, match=r"policy set 'team-rules', line 6: unexpected token"):
        Authorizer.default([("team-rules", broken)])
    with pytest.raises(InvalidInput, match=r"'ext', line 2: `nope` is not a valid function"):
        Authorizer.default([("ext", "permit (principal, action, resource)\n  when { nope(1) };")])


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ([("bad name", "")], "policy set name 'bad name'"),
        ([("a", ""), ("a", "")], "given twice"),
        (
            [
                (
                    "a",
                    '@id("x") permit(principal, action, resource);\n'
                    '@id("x") forbid(principal, action, resource);',
                )
            ],
            "two policies have the id 'a.x'",
        ),
        ([("a", "permit(principal == ?principal, action, resource);")], "templates"),
    ],
)
def test_bad_policy_sets_are_refused(sets: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Authorizer.default(sets)


def test_policies_carry_their_set_line_and_annotations() -> None:
    authorizer = Authorizer.default([("freeze", FREEZE)])
    freeze = authorizer.policies["freeze.friday-freeze"]
    assert (freeze.effect, freeze.policy_set, freeze.line) == ("forbid", "freeze", 2)
    unnamed = Authorizer.default([("plain", "\n\npermit (principal, action, resource);")])
    assert unnamed.policies["plain.policy0"].line == 3
    assert unnamed.policies["default.janitor"].reason


def test_a_forbid_that_fails_to_evaluate_denies() -> None:
    broken = '@id("typo")\nforbid (principal, action, resource) when { context.nope == 1 };'
    decision = Authorizer.default([("ext", broken)]).decide(workload_change(PAT))
    assert (decision.outcome, decision.policies) == ("deny", ("ext.typo",))
    assert decision.errors and "nope" in decision.errors[0]


def test_nothing_permits_gives_a_default_deny_with_a_reason() -> None:
    nothing = Authorizer([("only", "")], explain="")
    decision = nothing.decide(workload_change(PAT))
    assert decision.policies == ("default-deny",)
    assert "deny by default" in decision.reasons[0]
    assert decision.as_dict()["outcome"] == "deny"


def test_authorizer_for_caches_by_the_texts() -> None:
    first = authorizer_for([("freeze", FREEZE)])
    assert authorizer_for([("freeze", FREEZE)]) is first
    assert authorizer_for([("freeze", FREEZE + "\n")]) is not first
    assert authorizer_for([]).digest != first.digest


def test_decisions_are_remembered_and_the_same_uncached() -> None:
    authorizer = Authorizer.default()
    request = workload_change(ADA, "prod")
    first = authorizer.decide(request)
    assert authorizer.decide(request) is first
    assert authorizer.decide(request, cached=False) == first


def test_the_request_as_sent_to_cedar() -> None:
    sent = Authorizer.default().explain_request(workload_change(DEPLOYER))
    assert sent["principal"] == {"type": "Plinth::Agent", "id": "deployer"}
    assert sent["action"] == {"type": "Plinth::Action", "id": "change"}
    assert sent["context"]["kinds"] == ["Workload"]
    assert '"owner_team":"payments"' in sent["entities"].replace(" ", "")


def test_tool_requests_fill_the_mcp_defaults() -> None:
    request = tool_request(
        DEPLOYER, server="time", tool="now", trust="trusted", annotations=None, granted=True
    )
    hints = request.context["annotations"]
    assert hints == {
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": False,
        "openWorldHint": True,
    }
    assert request.resource["parents"] == [{"type": "McpServer", "id": "time"}]
    assert tool_granted("time/now", ["time/*"]) and not tool_granted("shell/rm", ["time/*"])


def test_small_helpers() -> None:
    assert cost_cents("12.345") == 1234 or cost_cents("12.345") == 1235
    assert cost_cents("not money") == 0
    assert statement_lines('a;\n// ; comment\n"x;y"\n  b;\n') == [1, 3]
