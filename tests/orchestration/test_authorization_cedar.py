"""The Cedar authorization gate, ``check`` and ``POST /api/v1/authz/check``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from plinth.capabilities.authz import Authorizer
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.core.clock import FrozenClock
from plinth.core.ids import SequentialIds
from plinth.experience.api.problems import install_problem_handlers
from plinth.experience.api.routes_authz import router
from plinth.experience.cli.authz import authz_app
from plinth.experience.cli.context import CliState
from plinth.infrastructure.store.db import Database
from plinth.orchestration.authz_check import EnvironmentFacts, check
from plinth.orchestration.gates.authorization import POLICIES_SETTING, AuthorizationGate
from plinth.orchestration.gates.base import GateContext, PlanView, VerdictKind
from plinth.orchestration.seed import seed_demo

ADA = Actor("u1", "ada", "human", "app-developer", grants=(Grant("developer", "payments"),))
PAT = Actor("u3", "pat", "human", "platform-engineer", grants=(Grant("platform-engineer"),))
DEPLOYER = Actor("a1", "deployer", "agent", "agent", grants=(Grant("agent", "payments"),))
PROD = EnvironmentFacts("prod", "prod", True)


def view(*changes: tuple[str, str], environment: str = "dev", team: str = "payments") -> PlanView:
    """Return a plan of (kind, action) changes in a project of ``team``."""
    tier = "prod" if environment == "prod" else "dev"
    return PlanView(
        environment=environment,
        environment_tier=tier,
        environment_protected=environment == "prod",
        project="checkout" if team == "payments" else "recommender",
        team=team,
        changes=tuple({"kind": k, "name": "web", "action": a} for k, a in changes),
        extra={"cost": {"monthly_delta": "12.00"}},
    )


def test_reasons_name_the_policies_that_decided() -> None:
    verdict = AuthorizationGate().evaluate(view(("Workload", "create")), ADA, GateContext())
    assert verdict.verdict is VerdictKind.ALLOW
    assert verdict.reasons[0].endswith("(default.team-change-role)")
    denied = AuthorizationGate().evaluate(
        view(("Workload", "create"), environment="prod"), ADA, GateContext()
    )
    assert denied.reasons[0].endswith("(explain.production)")


def test_agents_change_their_own_team_and_never_their_envelope() -> None:
    gate = AuthorizationGate()
    own = gate.evaluate(view(("Workload", "create")), DEPLOYER, GateContext())
    assert own.verdict is VerdictKind.ALLOW
    other = gate.evaluate(view(("Workload", "create"), team="ml-research"), DEPLOYER, GateContext())
    assert other.verdict is VerdictKind.DENY and "owner team 'payments'" in other.reasons[0]
    widen = gate.evaluate(
        view(("Agent", "update"), ("Workload", "update")), DEPLOYER, GateContext()
    )
    assert widen.verdict is VerdictKind.DENY
    assert any("cannot widen its own envelope" in r for r in widen.reasons)
    assert widen.suggestions


def test_extensions_come_through_the_gate_context() -> None:
    freeze = (
        '@id("dev-freeze")\n@reason("dev is frozen after {hour}h")\n'
        'forbid (principal, action == Plinth::Action::"change", resource)\n'
        'when { context.environment == "dev" && context.hour >= 20 };'
    )
    late = datetime(2026, 11, 24, 21, tzinfo=UTC)
    settings = {POLICIES_SETTING: [("freeze", freeze)], "now": late}
    verdict = AuthorizationGate().evaluate(view(("Workload", "update")), PAT, GateContext(settings))
    assert verdict.verdict is VerdictKind.DENY
    assert verdict.reasons == ("dev is frozen after 21h (freeze.dev-freeze)",)
    settings["now"] = datetime(2026, 11, 24, 10, tzinfo=UTC)
    again = AuthorizationGate().evaluate(view(("Workload", "update")), PAT, GateContext(settings))
    assert again.verdict is VerdictKind.ALLOW


def test_check_explains_a_decision_and_shows_the_cedar_request() -> None:
    result = check(
        Authorizer.default(),
        ADA,
        action="change",
        environment=PROD,
        project="checkout",
        team="payments",
        kinds=["Workload", "Team"],
    )
    assert result["outcome"] == "deny"
    assert {p["id"] for p in result["policies"]} == {
        "explain.organisation-kinds",
        "explain.production",
    }
    production = next(p for p in result["policies"] if p["id"] == "explain.production")
    assert production["policy_set"] == "explain" and production["line"] > 0
    assert "'prod'" in production["explanation"]
    assert [r["cedar"]["context"]["part"] for r in result["requests"]] == [
        "organisation",
        "project",
    ]
    assert result["requests"][1]["cedar"]["resource"] == {
        "type": "Plinth::Environment",
        "id": "prod",
    }


def test_check_a_tool_call_and_an_approval() -> None:
    tool = check(
        Authorizer.default(),
        DEPLOYER,
        action="call_tool",
        tool="shell/rm",
        trust="untrusted",
        annotations={"destructiveHint": True},
        granted=True,
    )
    assert (tool["outcome"], tool["policies"][0]["id"]) == (
        "needs_approval",
        "default.tool-needs-approval",
    )
    approve = check(
        Authorizer.default(), ADA, action="approve", plan="p1", author="ada", team="payments"
    )
    assert approve["outcome"] == "deny"
    assert approve["policies"][0]["id"] == "default.no-self-approval"


@dataclass
class Source:
    """The two things the route needs of a platform: a store and an authorizer."""

    db: Database

    def authorizer(self) -> Authorizer:
        """Return the default authorizer."""
        return Authorizer.default()

    def authenticate(self, token: str | None) -> Actor:
        """Return the actor of an opaque token."""
        with self.db.read() as session:
            return identity.authenticate(session, token)


@pytest.fixture
def api(database: Database) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A small app with only the authorization route, over a seeded store."""
    with database.transaction() as session:
        tokens = seed_demo(
            session, ids=SequentialIds(), clock=FrozenClock(datetime(2026, 11, 28, tzinfo=UTC))
        )
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.platform = Source(database)
    with TestClient(app) as client:
        yield client, tokens


def test_the_api_resolves_the_facts_from_the_store(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = api
    as_pat = {"Authorization": f"Bearer {tokens['pat']}"}
    body = {"principal": "ada", "environment": "prod", "project": "checkout"}
    answer = client.post("/api/v1/authz/check", json=body, headers=as_pat)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert (data["principal"], data["outcome"]) == ("ada", "deny")
    assert data["policies"][0]["id"] == "explain.production"
    context = data["requests"][0]["cedar"]["context"]
    assert (context["team"], context["tier"], context["protected"]) == ("payments", "prod", True)


def test_the_api_refuses_bad_questions(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    as_ada = {"Authorization": f"Bearer {tokens['ada']}"}
    other = client.post("/api/v1/authz/check", json={"principal": "pat"}, headers=as_ada)
    assert other.status_code == 403
    assert "security-auditor" in other.json()["detail"]
    unknown = client.post("/api/v1/authz/check", json={"environment": "moon"}, headers=as_ada)
    assert unknown.status_code == 404
    wrong = client.post("/api/v1/authz/check", json={"action": "fly"}, headers=as_ada)
    assert wrong.status_code == 422
    mine = client.post("/api/v1/authz/check", json={"environment": "dev"}, headers=as_ada)
    assert mine.json()["outcome"] == "allow"
    nobody = client.post("/api/v1/authz/check", json={})
    assert nobody.status_code == 401


def answer_checks(request: httpx.Request) -> httpx.Response:
    """Serve ``POST /api/v1/authz/check`` from ``check`` (rita asks; facts given inline)."""
    assert request.url.path == "/api/v1/authz/check"
    body = json.loads(request.content)
    rita = Actor("u2", body.get("principal", "rita"), "human", "app-developer")
    result = check(
        Authorizer.default(),
        rita,
        action=body["action"],
        environment=PROD if body.get("environment") == "prod" else None,
        project=body.get("project"),
        team=body.get("team"),
        kinds=body.get("kinds", ()),
    )
    return httpx.Response(200, json={**result, "sent": body})


def test_the_cli_prints_the_decision_and_its_policies() -> None:
    state = CliState(
        url="http://plinth.test", token="t", transport=httpx.MockTransport(answer_checks)
    )
    args = ["check", "--for", "lee", "--env", "prod", "-p", "checkout", "-t", "payments"]
    shown = CliRunner().invoke(authz_app, args, obj=state)
    assert shown.exit_code == 0, shown.output
    assert "lee change: deny" in shown.stdout
    assert "explain.team-role (explain, line" in shown.stdout
    as_json = CliRunner().invoke(
        authz_app,
        [*args, "--kind", "Team", "--output", "json"],
        obj=CliState(
            url="http://plinth.test", token="t", transport=httpx.MockTransport(answer_checks)
        ),
    )
    data = json.loads(as_json.stdout)
    assert data["sent"]["kinds"] == ["Team"] and data["sent"]["principal"] == "lee"
    assert data["policies"][0]["id"] == "explain.organisation-kinds"
    bad = CliRunner().invoke(authz_app, [*args, "--hint", "readOnly"], obj=state)
    assert bad.exit_code == 2 and "name=true" in bad.output
