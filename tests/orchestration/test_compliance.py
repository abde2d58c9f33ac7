"""Continuous compliance on a real platform: drift, new policies, states, remediation, report."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import yaml

from plinth.capabilities.compliance.findings import FindingFilter
from plinth.core.errors import Conflict, Forbidden
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import audit_actions, converge, resource, workload
from tests.support import wait_until


def deploy(world: World, docs: str, *, environment: str = "dev") -> None:
    """Plan and apply ``docs`` as ada, then reconcile until settled."""
    ada = world.actor("ada")
    plan = world.platform.plan(ada, PlanRequest(environment=environment, documents=docs))
    assert world.platform.apply(ada, plan["digest"])["status"] == "applied", plan["verdicts"]
    converge(world.platform)


def apply_org(world: World, docs: str) -> None:
    """Plan and apply organisation documents as pat, the platform engineer."""
    pat = world.actor("pat")
    plan = world.platform.plan(pat, PlanRequest(environment="dev", documents=docs))
    result = world.platform.apply(pat, plan["digest"])
    assert result["status"] == "applied", plan["verdicts"]


def findings(world: World, **narrow: Any) -> list[dict[str, Any]]:
    """Every finding sam (security) sees, narrowed by exact field values."""
    items, _ = world.platform.compliance.findings(world.actor("sam"), FindingFilter(), limit=500)
    return [f for f in items if all(f.get(k) == v for k, v in narrow.items())]


def drift(world: World, name: str) -> list[dict[str, Any]]:
    """The drift findings of one resource."""
    return findings(world, pack="compliance-live", rule="drift", resource=name)


BANNED = """
apiVersion: plinth.dev/v1
kind: Policy
metadata: {name: no-app-images}
spec:
  version: "1.0.0"
  description: registry.local/app images are withdrawn
  modules:
    main.rego: |
      package acme.withdrawn

      import rego.v1

      deny contains f if {
        some r in input.resources
        r.type == "service"
        not r.spec.stopped
        some _, c in r.spec.containers
        startswith(c.image, "registry.local/app:")
        f := {"rule": "withdrawn-image", "resource": r.name, "severity": "critical",
              "msg": sprintf("%s runs a withdrawn image", [r.name]),
              "fix": "move to registry.local/app2", "remediation": "stop"}
      }
"""


def test_a_drift_is_found_restored_and_resolved(world: World) -> None:
    deploy(world, workload("web", db=None))
    world.platform.compliance.scan()
    assert drift(world, "web") == []

    world.fake.tamper("web", containers={"main": {"image": "evil.example/miner:1"}})
    summary = world.platform.compliance.scan()
    [found] = drift(world, "web")
    assert found["state"] == "open" and found["severity"] == "high"
    assert found["owner"] == "payments" and found["environment"] == "dev"
    assert found["remediation"] == "restore" and found["remediated_at"] is not None
    assert "desired state re-applied" in found["remediation_detail"]
    assert any(r["remediation"] == "restore" for r in summary["remediations"])

    world.platform.reconciler.reconcile(resource(world.platform, "web").id)  # the queued restore
    assert world.fake.by_name("web").spec["containers"]["main"]["image"] == "registry.local/app:1"
    world.platform.compliance.scan()
    [fixed] = drift(world, "web")
    assert fixed["state"] == "resolved" and fixed["resolved_at"] is not None
    actions = audit_actions(world.platform)
    for action in (
        "compliance.finding.open",
        "compliance.remediated",
        "compliance.finding.resolved",
    ):
        assert action in actions


def test_a_removed_resource_is_a_drift_too(world: World) -> None:
    deploy(world, workload("web", db=None))
    world.fake.lose("web")
    world.platform.compliance.scan()
    [found] = drift(world, "web")
    assert "was removed outside the platform" in found["message"]


def test_a_new_policy_flags_existing_resources_and_stops_after_grace(world: World) -> None:
    deploy(world, workload("web", db=None))
    world.platform.compliance.scan()
    assert findings(world, rule="withdrawn-image") == []

    apply_org(world, BANNED)
    world.platform.compliance.scan()
    [found] = findings(world, rule="withdrawn-image")
    assert found["state"] == "open" and found["severity"] == "critical"
    assert found["pack"] == "no-app-images" and found["pack_version"] == "1.0.0"
    assert found["remediation"] == "stop" and found["remediated_at"] is None
    assert found["fix"] == "move to registry.local/app2"

    world.clock.advance(23 * 3600)  # within the grace period: nothing is stopped
    world.platform.compliance.scan()
    assert findings(world, rule="withdrawn-image")[0]["remediated_at"] is None

    world.clock.advance(2 * 3600)
    summary = world.platform.compliance.scan()
    [stop] = [r for r in summary["remediations"] if r["remediation"] == "stop"]
    assert stop["done"], stop["detail"]
    [stopped] = findings(world, rule="withdrawn-image")
    assert stopped["remediated_at"] is not None and "stopped" in stopped["remediation_detail"]
    body = world.platform.workload("web", environment="dev", project="checkout")["document"]
    assert body["metadata"]["annotations"]["plinth.dev/stopped"] == "true"
    world.platform.compliance.scan()  # a stopped workload no longer breaks the rule
    assert findings(world, rule="withdrawn-image")[0]["state"] == "resolved"
    assert "compliance.remediated" in audit_actions(world.platform)


def test_acknowledged_stays_acknowledged_and_only_owners_acknowledge(world: World) -> None:
    deploy(world, workload("web", db=None))
    world.fake.tamper("web", containers={})
    world.platform.compliance.scan()
    [found] = drift(world, "web")
    with pytest.raises(Forbidden):
        world.platform.compliance.acknowledge(found["id"], world.actor("dana"), "not mine")
    acked = world.platform.compliance.acknowledge(found["id"], world.actor("ada"), "on it")
    assert acked["state"] == "acknowledged" and "ada: on it" in acked["notes"]
    world.platform.compliance.scan()
    assert drift(world, "web")[0]["state"] == "acknowledged"
    assert "compliance.finding.acknowledged" in audit_actions(world.platform)
    # dana (ml-research) sees none of payments' findings; sam sees them all.
    mine, _ = world.platform.compliance.findings(world.actor("dana"), FindingFilter(), limit=50)
    assert mine == []

    world.platform.reconciler.reconcile(resource(world.platform, "web").id)
    world.platform.compliance.scan()
    assert drift(world, "web")[0]["state"] == "resolved"
    with pytest.raises(Conflict):
        world.platform.compliance.acknowledge(found["id"], world.actor("ada"), "late")


def test_report_counts_and_csv(world: World) -> None:
    deploy(world, workload("web", db=None))
    world.fake.tamper("web", containers={})
    world.platform.compliance.scan()
    sam = world.actor("sam")
    report = world.platform.compliance.report(sam, team="payments", environment="dev")
    assert isinstance(report, dict)
    assert report["counts"]["by_state"]["open"] >= 1
    assert report["counts"]["by_severity"]["high"] >= 1
    assert any(f["rule"] == "drift" and f["owner"] == "payments" for f in report["findings"])
    text = world.platform.compliance.report(sam, team="payments", format="csv")
    assert isinstance(text, str)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert any(r["rule"] == "drift" and r["team"] == "payments" for r in rows)
    with pytest.raises(Forbidden):
        world.platform.compliance.report(world.actor("dana"), team="payments")
    with pytest.raises(Forbidden):
        world.platform.compliance.scan(world.actor("ada"))


def test_the_live_input_carries_context(world: World) -> None:
    deploy(world, workload("web", db=None))
    from plinth.orchestration.compliance import live_input

    with world.platform.db.read() as session:
        team, live = live_input(session, "dev", "checkout", [])
    assert team == "payments"
    assert live["kind"] == "live" and live["environment"]["tier"] == "dev"
    assert yaml.safe_dump(live)  # plain data only


EXCEPTION = """
apiVersion: plinth.dev/v1
kind: PolicyException
metadata: {name: web-keeps-its-image}
spec:
  rule: no-app-images/withdrawn-image
  resources: [web]
  owner: payments
  justification: the replacement image ships next sprint
  expires: "2026-12-05T00:00:00Z"
"""


def test_an_exception_makes_a_finding_excepted_until_it_expires(world: World) -> None:
    deploy(world, workload("web", db=None))
    apply_org(world, BANNED)
    world.platform.compliance.scan()
    assert findings(world, rule="withdrawn-image")[0]["state"] == "open"

    apply_org(world, EXCEPTION)
    world.platform.compliance.scan()
    [found] = findings(world, rule="withdrawn-image")
    assert found["state"] == "excepted" and found["exception"] == "web-keeps-its-image"
    assert found["exception_expires"].startswith("2026-12-05")
    report = world.platform.compliance.report(world.actor("sam"), team="payments")
    assert isinstance(report, dict)
    [listed] = report["exceptions"]
    assert listed["exception"] == "web-keeps-its-image" and listed["days_left"] == 6

    world.clock.advance(8 * 86400)  # expired: the finding is open again, the stop re-armed
    world.platform.compliance.scan()
    [again] = findings(world, rule="withdrawn-image")
    assert again["state"] == "open" and again["remediation_due"] is not None
    assert "compliance.finding.excepted" in audit_actions(world.platform)


def test_the_background_loop_scans_until_stopped(world: World) -> None:
    deploy(world, workload("web", db=None))
    world.fake.tamper("web", containers={})
    loop = world.platform.compliance.loop
    loop.interval = 0.05
    world.platform.compliance.start()
    try:
        wait_until(lambda: drift(world, "web"), timeout=30, what="a background scan")
    finally:
        world.platform.compliance.stop()
    assert loop._thread is None
