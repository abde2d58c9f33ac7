"""The ``rotate-secret`` remediation on the real local provider: an exposed secret is rotated."""

from __future__ import annotations

from typing import Any

import yaml

from plinth.capabilities.compliance.findings import FindingFilter
from plinth.capabilities.identity import service as identity
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform
from tests.orchestration.specs import audit_actions, converge, resource

EXPOSED = """
apiVersion: plinth.dev/v1
kind: Policy
metadata: {name: leaked-secrets}
spec:
  version: "1.0.0"
  description: the first value of every secret was printed in a build log
  modules:
    main.rego: |
      package acme.leaked

      import rego.v1

      deny contains f if {
        input.kind == "live"
        some r in input.resources
        r.type == "secret"
        r.state.version == 1
        f := {"rule": "exposed-secret", "resource": r.name, "severity": "critical",
              "msg": "this secret's first value was exposed", "remediation": "rotate-secret"}
      }
"""


def _apply(platform: Platform, user: str, docs: str) -> None:
    with platform.db.read() as session:
        actor = identity.actor_by_name(session, user)
    plan = platform.plan(actor, PlanRequest(environment="dev", documents=docs))
    assert platform.apply(actor, plan["digest"])["status"] == "applied", plan["verdicts"]


def _workload() -> str:
    doc: dict[str, Any] = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": "web"},
        "containers": {
            "main": {
                "image": "exec:sh",
                "command": ["/bin/sh", "-c", "exec sleep 60"],
                "variables": {"API_TOKEN": "${resources.token.value}"},
            }
        },
        "resources": {"token": {"type": "secret", "params": {"length": 32}}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _exposed(platform: Platform) -> list[dict[str, Any]]:
    with platform.db.read() as session:
        sam = identity.actor_by_name(session, "sam")
    items, _ = platform.compliance.findings(sam, FindingFilter(), limit=100)
    return [f for f in items if f["rule"] == "exposed-secret"]


def test_an_exposed_secret_is_rotated_and_the_finding_resolves(local: Platform) -> None:
    _apply(local, "ada", _workload())
    converge(local)
    assert resource(local, "web-token").state["version"] == 1
    _apply(local, "pat", EXPOSED)

    summary = local.compliance.scan()
    [found] = _exposed(local)
    assert found["resource"] == "web-token" and found["remediated_at"] is not None
    assert "rotated web-token (version 2)" in found["remediation_detail"]
    assert any(r["remediation"] == "rotate-secret" and r["done"] for r in summary["remediations"])
    converge(local)
    local.compliance.scan()
    [fixed] = _exposed(local)
    assert fixed["state"] == "resolved"
    with local.db.read() as session:
        sam = identity.actor_by_name(session, "sam")
    drifts, _ = local.compliance.findings(sam, FindingFilter(state="open"), limit=100)
    assert [f for f in drifts if f["rule"] == "drift"] == []  # a rotation is not a drift
    actions = audit_actions(local)
    assert "secret.rotated" in actions and "compliance.remediated" in actions
