"""Secure defaults: injected into every rendered spec, opt-outs recorded and denied by policy."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from plinth.capabilities.policy.engine import PolicyEngine
from plinth.capabilities.policy.packs import builtin_packs
from plinth.core.errors import SpecError
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.secure_defaults import (
    DEFAULTS,
    ProviderCaps,
    harden,
    requested_settings,
)
from tests.orchestration.conftest import World
from tests.orchestration.specs import workload


def _with_annotations(text: str, annotations: dict[str, str]) -> str:
    doc = yaml.safe_load(text)
    doc["metadata"]["annotations"] = annotations
    doc["resources"]["cache"] = {"type": "volume"}
    return yaml.safe_dump(doc, sort_keys=False)


def _resource_changes(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in plan["changes"] if c["kind"] == "Resource"}


def _deny_messages(plan: dict[str, Any]) -> list[str]:
    resources = [
        {"name": n, "type": c["type"], "action": c["action"], "spec": c["after"]}
        for n, c in _resource_changes(plan).items()
    ]
    policy_input = {
        "kind": "plan",
        "actor": {"name": "ada", "type": "human", "roles": [], "team": "payments"},
        "environment": {"name": "dev", "tier": "dev", "protected": False},
        "project": {"name": "checkout", "team": "payments"},
        "resources": resources,
    }
    evaluation = PolicyEngine(builtin_packs(), timeout_s=30).evaluate(policy_input)
    assert not evaluation.errors
    return [r.message for r in evaluation.results if r.rule == "secure_defaults"]


def test_every_rendered_spec_carries_the_defaults(world: World) -> None:
    text = _with_annotations(workload("web"), {})
    plan = world.platform.plan(world.actor("ada"), PlanRequest(environment="dev", documents=text))
    changes = _resource_changes(plan)
    assert set(changes) == {"web", "web-db", "web-cache"}
    for change in changes.values():
        security = change["after"]["security"]
        for key, value in DEFAULTS[change["type"]].items():
            assert security[key] == value
        assert security["optOuts"] == []
        assert set(security["enforcement"]) == set(DEFAULTS[change["type"]])
    web = changes["web"]["after"]["security"]
    assert web["runAsNonRoot"] is True and web["allowPrivilegeEscalation"] is False
    assert web["networkPolicy"] == "default-deny"
    assert web["allow"] == ["web-cache", "web-db"]  # only the declared dependencies
    assert changes["web-cache"]["after"]["security"]["encryptedAtRest"] is True
    # The fake provider enforces nothing, and the plan says so.
    assert web["enforcement"]["tls"] == "declared, not enforced by the fake provider"
    assert _deny_messages(plan) == []


def test_an_opt_out_is_kept_recorded_and_denied(world: World) -> None:
    annotations = {
        "plinth.dev/security.runAsNonRoot": "false",
        "plinth.dev/security.encryptedAtRest": "false",
    }
    text = _with_annotations(workload("web"), annotations)
    plan = world.platform.plan(world.actor("ada"), PlanRequest(environment="dev", documents=text))
    changes = _resource_changes(plan)
    web = changes["web"]["after"]["security"]
    assert web["runAsNonRoot"] is False
    assert web["optOuts"] == ["runAsNonRoot"]
    assert web["enforcement"]["runAsNonRoot"] == "turned off (opt-out)"
    assert changes["web-cache"]["after"]["security"]["optOuts"] == ["encryptedAtRest"]
    messages = _deny_messages(plan)
    assert len(messages) == 3  # web: runAsNonRoot; web-db and web-cache: encryptedAtRest
    assert any("web turns off the secure default runAsNonRoot" in m for m in messages)
    assert all("PolicyException" in m for m in messages)


def test_harden_records_what_the_provider_enforces() -> None:
    caps = ProviderCaps("local", frozenset({"runAsNonRoot"}))
    hardened = harden("service", {"containers": {}}, dependencies=["db"], provider_caps=caps)
    enforcement = hardened.spec["security"]["enforcement"]
    assert enforcement["runAsNonRoot"] == "enforced"
    assert enforcement["readOnlyRootFilesystem"] == "declared, not enforced by the local provider"
    assert hardened.opt_outs == []
    asked = {"containers": {}, "security": {"allowPrivilegeEscalation": True}}
    opted = harden("service", asked, dependencies=[], provider_caps=caps)
    assert opted.opt_outs == ["allowPrivilegeEscalation"]
    assert opted.spec["security"]["allowPrivilegeEscalation"] is True
    assert harden("unknown", {"a": 1}, dependencies=[], provider_caps=caps).spec == {"a": 1}


def test_bad_security_annotations_are_spec_errors() -> None:
    with pytest.raises(SpecError) as caught:
        requested_settings(
            {
                "plinth.dev/security.runAsRoot": "true",
                "plinth.dev/security.tls": "maybe",
                "plinth.dev/security.networkPolicy": "open",
            }
        )
    messages = " ".join(i.message for i in caught.value.issues)
    assert "no secure default named 'runAsRoot'" in messages
    assert "must be 'true' or 'false'" in messages
    assert "networkPolicy must be" in messages
    assert requested_settings({"plinth.dev/security.tls": "false"}) == {"tls": False}


def test_the_policy_gate_denies_an_opt_out_until_an_exception_covers_it(world: World) -> None:
    text = _with_annotations(workload("web"), {"plinth.dev/security.runAsNonRoot": "false"})
    ada, pat = world.actor("ada"), world.actor("pat")
    denied = world.platform.plan(ada, PlanRequest(environment="dev", documents=text))
    assert denied["outcome"] == "deny"
    [policy] = [v for v in denied["verdicts"] if v["gate"] == "policy"]
    assert "default/secure_defaults [web]" in " ".join(policy["reasons"])
    excepted = {
        "apiVersion": "plinth.dev/v1",
        "kind": "PolicyException",
        "metadata": {"name": "legacy-web-root"},
        "spec": {
            "rule": "default/secure_defaults",
            "resources": ["web"],
            "owner": "pat",
            "justification": "the legacy binary drops privileges itself",
            "expires": "2026-12-20T00:00:00Z",
        },
    }
    request = PlanRequest(environment="dev", documents=yaml.safe_dump(excepted))
    exception_plan = world.platform.plan(pat, request)
    assert world.platform.apply(pat, exception_plan["digest"])["status"] == "applied"
    allowed = world.platform.plan(ada, PlanRequest(environment="dev", documents=text))
    assert allowed["outcome"] == "allow", allowed["verdicts"]
