"""Policy and PolicyException documents through the one path: checked, versioned, enforced."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from plinth.core.errors import Forbidden, GateDenied, SpecError
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import workload

RULE = """package acme.names

import rego.v1

deny contains {"msg": sprintf("%s is a temporary name", [r.name]), "resource": r.name,
	"fix": "rename the workload"} if {
	some r in input.resources
	startswith(r.name, "tmp-")
}
"""


def policy(version: str = "1.0.0", modules: dict[str, str] | None = None) -> str:
    """Return a Policy document."""
    spec = {"version": version, "description": "names", "modules": modules or {"names": RULE}}
    doc = {"apiVersion": "plinth.dev/v1", "kind": "Policy", "metadata": {"name": "acme"}}
    return yaml.safe_dump(doc | {"spec": spec}, sort_keys=False)


def exception(**spec: object) -> str:
    """Return a PolicyException document (fields given override a valid one)."""
    body = {
        "rule": "acme/names",
        "resources": ["tmp-*"],
        "owner": "pat",
        "justification": "a migration",
        "expires": "2026-12-20T00:00:00Z",
    } | spec
    body = {k: v for k, v in body.items() if v is not None}
    doc = {"apiVersion": "plinth.dev/v1", "kind": "PolicyException", "metadata": {"name": "tmp"}}
    return yaml.safe_dump(doc | {"spec": body}, sort_keys=False)


def _apply(world: World, user: str, text: str) -> dict[str, object]:
    actor = world.actor(user)
    plan = world.platform.plan(actor, PlanRequest(environment="dev", documents=text))
    return world.platform.apply(actor, str(plan["digest"]))


def test_malformed_rego_is_a_spec_error_naming_module_and_line(world: World) -> None:
    broken = "package acme.bad\n\nimport rego.v1\n\ndeny contains x if {\n  x := \n}\n"
    with pytest.raises(SpecError) as raised:
        world.platform.plan(
            world.actor("pat"),
            PlanRequest(environment="dev", documents=policy(modules={"bad": broken})),
        )
    [issue] = raised.value.issues
    assert issue.path == "$.spec.modules.bad" and "module bad (line 6)" in issue.message


def test_a_policy_applies_to_later_plans_and_versions_are_immutable(world: World) -> None:
    assert _apply(world, "sam", policy())["status"] == "applied"  # security auditors may
    ada = world.actor("ada")
    with pytest.raises(GateDenied, match="acme/names"):
        plan = world.platform.plan(
            ada, PlanRequest(environment="dev", documents=workload("tmp-web", db=None))
        )
        world.platform.apply(ada, str(plan["digest"]))
    changed = {"names": RULE.replace("temporary", "throwaway")}
    with pytest.raises(SpecError, match="immutable"):
        world.platform.plan(
            world.actor("pat"), PlanRequest(environment="dev", documents=policy(modules=changed))
        )
    assert _apply(world, "pat", policy("1.1.0", changed))["status"] == "applied"
    listed = {p["name"]: p["version"] for p in world.platform.policy.packs()}
    assert listed == {"default": "1.0.0", "acme": "1.1.0"}


def test_an_exception_lets_the_plan_through_and_is_reported(world: World) -> None:
    _apply(world, "pat", policy())
    _apply(world, "sam", exception())
    ada = world.actor("ada")
    plan = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=workload("tmp-web", db=None))
    )
    verdict = next(v for v in plan["verdicts"] if v["gate"] == "policy")
    assert verdict["verdict"] == "allow"
    assert any(r.startswith("excepted: acme/names [tmp-web]") for r in verdict["reasons"])
    [listed] = world.platform.policy.exceptions()
    assert (listed["owner"], listed["expired"]) == ("pat", False)
    world.clock.advance(timedelta(days=30).total_seconds())
    assert world.platform.policy.exceptions() == []
    again = world.platform.policy.evaluate(
        ada, environment="dev", documents=workload("tmp-web", db=None)
    )
    assert again["verdict"]["verdict"] == "deny" and again["excepted"] == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"owner": None}, "owner"),
        ({"expires": None}, "expires"),
        ({"expires": "2020-01-01T00:00:00Z"}, "in the past"),
        ({"expires": "2030-01-01T00:00:00Z"}, "more than 90 days"),
        ({"expires": "next week"}, "RFC 3339"),
    ],
)
def test_exceptions_need_an_owner_and_a_near_expiry(
    world: World, spec: dict[str, object], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        world.platform.plan(
            world.actor("pat"), PlanRequest(environment="dev", documents=exception(**spec))
        )


def test_only_platform_engineers_and_auditors_change_policies(world: World) -> None:
    ada = world.actor("ada")
    plan = world.platform.plan(ada, PlanRequest(environment="dev", documents=policy()))
    with pytest.raises((GateDenied, Forbidden)):
        world.platform.apply(ada, str(plan["digest"]))


def test_pack_tests_and_explain(world: World) -> None:
    report = world.platform.policy.test(pack="default")
    assert report["failed"] == 0 and report["passed"] >= 13
    explained = world.platform.policy.evaluate(
        world.actor("ada"),
        environment="dev",
        documents=workload("web", image="quay.io/acme/web:1", db=None),
    )
    assert explained["verdict"]["verdict"] == "deny"
    [result] = explained["results"]
    assert (result["rule"], result["resource"]) == ("registries", "web")
    assert explained["packs"] == ["default@1.0.0"]
