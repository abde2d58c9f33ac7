"""The table of allowed and denied cases (cases.yaml) against the default policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plinth.capabilities.authz import Authorizer, AuthzRequest
from plinth.capabilities.identity.schemas import Actor, Grant

TABLE = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text())
AUTHORIZER = Authorizer.default()


def actor(name: str) -> Actor:
    """Return the actor of the table named ``name``."""
    spec = TABLE["actors"][name]
    grants = []
    for held in spec["grants"]:
        role, _, team = held.partition("@")
        grants.append(Grant(role, None if team == "org" else team))
    persona = "agent" if spec["kind"] == "agent" else "app-developer"
    return Actor(f"id-{name}", name, spec["kind"], persona, grants=tuple(grants))


def request_of(case: dict[str, Any]) -> AuthzRequest:
    """Build the request of one case (expanding ``Environment/<name>``)."""
    resource, context = case["resource"], dict(case["context"])
    if isinstance(resource, str):
        type_, _, name = resource.partition("/")
        facts = TABLE["environments"][name]
        resource = {"type": type_, "id": name, "attrs": dict(facts)}
        context.update(facts, environment=name)
    return AuthzRequest(actor(case["principal"]), case["action"], resource, context)


def label(case: dict[str, Any]) -> str:
    """Return a readable test id."""
    resource = case["resource"]
    where = resource if isinstance(resource, str) else f"{resource['type']}/{resource['id']}"
    kinds = ",".join(case["context"].get("kinds", []))
    return f"{case['principal']}-{case['action']}-{where}-{kinds}-{case['outcome']}"


def test_the_table_has_enough_cases_of_every_kind() -> None:
    cases = TABLE["cases"]
    assert len(cases) >= 30
    assert {c["action"] for c in cases} == {"change", "approve", "call_tool", "read"}
    assert {c["outcome"] for c in cases} == {"allow", "needs_approval", "deny"}
    assert {"janitor", "deployer", "ada", "rita", "pat", "lee"} <= {c["principal"] for c in cases}


@pytest.mark.parametrize("case", TABLE["cases"], ids=label)
def test_case(case: dict[str, Any]) -> None:
    decision = AUTHORIZER.decide(request_of(case))
    assert decision.outcome == case["outcome"], decision
    assert case["policy"] in decision.policies, decision
    assert decision.reasons and all("{" not in r for r in decision.reasons), decision.reasons
    assert not decision.errors
    if decision.outcome != "allow":
        assert decision.suggestions, decision
