"""The one path through ``Platform``: plan → gates → decision → apply, on both stores."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlalchemy import select

from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.core.errors import Conflict, Forbidden, GateDenied, InvalidInput
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.records import PlanRecord
from tests.orchestration.conftest import World
from tests.orchestration.specs import (
    PROD_READY,
    application,
    audit_actions,
    converge,
    count,
    resource,
    resources,
    workload,
)


def actions(plan: dict[str, object]) -> dict[tuple[str, str], str]:
    """Return ``{(kind, name): action}`` of a plan's changes."""
    changes = plan["changes"]
    assert isinstance(changes, list)
    return {(c["kind"], c["name"]): c["action"] for c in changes}


def test_plan_apply_then_replan_is_all_no_op(world: World) -> None:
    ada = world.actor("ada")
    request = PlanRequest(environment="dev", documents=workload("web"))
    plan = world.platform.plan(ada, request)
    assert plan["status"] == "planned" and plan["outcome"] == "allow"
    assert actions(plan) == {
        ("Workload", "web"): "create",
        ("Resource", "web"): "create",
        ("Resource", "web-db"): "create",
    }
    assert plan["project"] == "checkout"  # ada's team's project by default

    result = world.platform.apply(ada, plan["digest"])
    assert result["status"] == "applied"
    assert result["plan"]["applied_at"] is not None
    assert set(resources(world.platform)) == {"web", "web-db"}
    converge(world.platform)
    assert world.fake.names() == {"web", "web-db"}

    again = world.platform.plan(ada, request)
    assert again["digest"] != plan["digest"]
    assert set(actions(again).values()) == {"no-op"}
    assert world.platform.audit_verify()["ok"] is True


def test_same_request_gives_the_same_digest_and_one_plan(world: World) -> None:
    ada, rita = world.actor("ada"), world.actor("rita")
    request = PlanRequest(environment="dev", documents=workload("web"))
    first = world.platform.plan(ada, request)
    second = world.platform.plan(ada, request)
    assert first["digest"] == second["digest"]
    assert count(world.platform, PlanRecord) == 1
    assert world.platform.plan(rita, request)["digest"] != first["digest"]  # actor is an input


def test_stale_plan_is_refused(world: World) -> None:
    ada = world.actor("ada")
    plan_a = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=workload("web", image="app:a"))
    )
    plan_b = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=workload("web", image="app:b"))
    )
    world.platform.apply(ada, plan_b["digest"])
    with pytest.raises(Conflict, match="stale"):
        world.platform.apply(ada, plan_a["digest"])
    assert resource(world.platform, "web").desired["containers"]["main"]["image"] == "app:b"
    assert world.platform.get_plan(plan_a["digest"])["status"] == "planned"


def test_applying_a_plan_twice_is_a_conflict(world: World) -> None:
    ada = world.actor("ada")
    plan = world.platform.plan(ada, PlanRequest(environment="dev", documents=workload("web")))
    world.platform.apply(ada, plan["digest"])
    records = count(world.platform, ResourceRecord)
    with pytest.raises(Conflict, match="already applied"):
        world.platform.apply(ada, plan["digest"])
    assert count(world.platform, ResourceRecord) == records


def test_developer_in_prod_is_denied_and_the_decision_is_audited(world: World) -> None:
    ada = world.actor("ada")
    plan = world.platform.plan(ada, PlanRequest(environment="prod", documents=workload("web")))
    assert plan["status"] == "denied" and plan["outcome"] == "deny"
    with pytest.raises(GateDenied, match="release-manager") as denied:
        world.platform.apply(ada, plan["digest"])
    seq = denied.value.extra["plan"]["decision_seq"]
    assert isinstance(seq, int)
    with world.platform.db.transaction() as session:
        decision = session.get(AuditRecord, seq)
        assert decision is not None
        assert (decision.action, decision.actor) == ("plan.decision", "ada")
        assert decision.subject == f"plan/{plan['digest']}"
        assert decision.data["decision"] == "deny"
        assert (
            session.scalars(select(DocumentRecord).where(DocumentRecord.kind == "Workload")).all()
            == []
        )
    assert count(world.platform, ResourceRecord) == 0
    assert world.platform.audit_verify()["ok"] is True


def test_release_manager_may_change_prod(world: World) -> None:
    rita = world.actor("rita")
    text = workload("web", **PROD_READY)
    plan = world.platform.plan(rita, PlanRequest(environment="prod", documents=text))
    assert plan["outcome"] == "allow"
    assert world.platform.apply(rita, plan["digest"])["status"] == "applied"
    assert resource(world.platform, "web").environment == "prod"


def test_out_of_bounds_override_waits_for_a_platform_engineer(world: World) -> None:
    ada, pat = world.actor("ada"), world.actor("pat")
    plan = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=application("shop", memory="2Gi"))
    )
    assert plan["status"] == "needs_approval"
    assert plan["violations"] and "memory" in str(plan["violations"])
    bounds = next(v for v in plan["verdicts"] if v["gate"] == "template-bounds")
    assert bounds["verdict"] == "needs_approval" and bounds["suggestions"]
    pending = world.platform.approvals(status="pending", limit=10, page_token=None)
    assert [p["digest"] for p in pending.items] == [plan["digest"]]
    assert any("memory" in r for r in pending.items[0]["reasons"])

    waiting = world.platform.apply(ada, plan["digest"])
    assert waiting["status"] == "waiting_approval"
    assert count(world.platform, ResourceRecord) == 0

    with pytest.raises(Forbidden, match="nobody approves their own plan"):
        world.platform.review(ada, plan["digest"], approve=True, reason="self-service")
    reviewed = world.platform.review(pat, plan["digest"], approve=True, reason="load test week")
    assert reviewed["status"] == "approved"
    assert [a["approver"] for a in reviewed["plan"]["approvals"]] == ["pat"]
    assert world.platform.approvals(status="pending", limit=10, page_token=None).items == []
    approved = world.platform.approvals(status="approved", limit=10, page_token=None)
    assert [p["digest"] for p in approved.items] == [plan["digest"]]

    applied = world.platform.apply(ada, plan["digest"])
    assert applied["status"] == "applied"
    service = resource(world.platform, "shop")
    assert service.desired["resources"]["memory"] == "2Gi"
    tail = audit_actions(world.platform)[-6:]
    assert tail == [
        "plan.created",
        "plan.decision",
        "plan.approval_refused",  # ada may not approve her own plan: on the record too
        "plan.approved",
        "plan.decision",
        "plan.applied",
    ]
    with world.platform.db.transaction() as session:
        last_decision = session.get(AuditRecord, applied["decision"]["seq"])
        assert last_decision is not None
        assert last_decision.data["decision"] == "allow"
        assert last_decision.data["approvals"][0]["approver"] == "pat"


def test_rejected_plan_cannot_be_applied(world: World) -> None:
    ada, pat = world.actor("ada"), world.actor("pat")
    plan = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=application("shop", memory="2Gi"))
    )
    world.platform.review(pat, plan["digest"], approve=False, reason="too big")
    with pytest.raises(Conflict, match="rejected"):
        world.platform.apply(ada, plan["digest"])
    assert count(world.platform, ResourceRecord) == 0
    assert "plan.rejected" in audit_actions(world.platform)


def test_only_plans_that_need_approval_can_be_approved(world: World) -> None:
    ada, pat = world.actor("ada"), world.actor("pat")
    plan = world.platform.plan(ada, PlanRequest(environment="dev", documents=workload("web")))
    with pytest.raises(Conflict, match="does not need approval"):
        world.platform.review(pat, plan["digest"], approve=True, reason="why not")


def test_delete_releases_resources_and_the_reconciler_destroys_them(world: World) -> None:
    ada = world.actor("ada")
    plan = world.platform.plan(ada, PlanRequest(environment="dev", documents=workload("web")))
    world.platform.apply(ada, plan["digest"])
    converge(world.platform)
    assert world.fake.names() == {"web", "web-db"}

    delete = world.platform.plan(
        ada, PlanRequest(environment="dev", delete_kind="Workload", delete_name="web")
    )
    assert actions(delete) == {
        ("Workload", "web"): "delete",
        ("Resource", "web"): "delete",
        ("Resource", "web-db"): "delete",
    }
    world.platform.apply(ada, delete["digest"])
    assert all(r.deleting for r in resources(world.platform).values())
    assert world.fake.names() == {"web", "web-db"}  # nothing destroyed until reconciled

    converge(world.platform)
    assert world.fake.names() == set()
    assert resources(world.platform) == {}
    assert audit_actions(world.platform).count("resource.destroyed") == 2
    assert world.platform.audit_verify()["ok"] is True


def test_shared_resource_outlives_its_first_user(world: World) -> None:
    ada = world.actor("ada")
    for name in ("orders", "billing"):
        docs = workload(name, shared_db="main")
        plan = world.platform.plan(ada, PlanRequest(environment="dev", documents=docs))
        world.platform.apply(ada, plan["digest"])
    converge(world.platform)
    assert world.fake.names() == {"orders", "billing", "postgres-main"}
    assert resource(world.platform, "postgres-main").refs == ["billing", "orders"]

    delete = world.platform.plan(
        ada, PlanRequest(environment="dev", delete_kind="Workload", delete_name="orders")
    )
    assert actions(delete)[("Resource", "postgres-main")] == "no-op"
    kept = next(c for c in delete["changes"] if c["name"] == "postgres-main")
    assert kept["reasons"] == ["still used by billing"]
    world.platform.apply(ada, delete["digest"])
    converge(world.platform)
    assert world.fake.names() == {"billing", "postgres-main"}
    assert resource(world.platform, "postgres-main").refs == ["billing"]

    delete = world.platform.plan(
        ada, PlanRequest(environment="dev", delete_kind="Workload", delete_name="billing")
    )
    assert actions(delete)[("Resource", "postgres-main")] == "delete"
    world.platform.apply(ada, delete["digest"])
    converge(world.platform)
    assert world.fake.names() == set()


def test_template_upgrade_keeps_overrides_only_when_asked(world: World) -> None:
    ada = world.actor("ada")
    first = world.platform.plan(ada, PlanRequest(environment="dev", documents=application("shop")))
    world.platform.apply(ada, first["digest"])

    unpinned = application("shop", version=None)
    stay = world.platform.plan(ada, PlanRequest(environment="dev", documents=unpinned))
    assert actions(stay)[("Workload", "shop")] == "no-op"
    world.platform.apply(ada, stay["digest"])
    app = world.platform.workload("shop", kind="Application", environment="dev", project=None)
    assert app["template_version"] == "1.0.0"

    upgrade = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=unpinned, upgrade=True)
    )
    assert upgrade["conflicts"] == []
    assert actions(upgrade)[("Workload", "shop")] == "update"
    world.platform.apply(ada, upgrade["digest"])
    app = world.platform.workload("shop", kind="Application", environment="dev", project=None)
    assert app["template_version"] == "1.1.0"
    detail = world.platform.workload("shop", environment="dev", project="checkout")
    assert detail["template_version"] == "1.1.0"
    main = detail["document"]["containers"]["main"]
    assert main["resources"]["limits"]["memory"] == "512Mi"  # the override survived
    assert main["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}  # new in 1.1.0
    assert main["variables"]["LOG_LEVEL"] == "info"


ORG_DOCUMENTS = """
apiVersion: plinth.dev/v1
kind: Team
metadata: {name: data}
spec: {description: The data team}
---
apiVersion: plinth.dev/v1
kind: Project
metadata: {name: warehouse}
spec: {team: data}
---
apiVersion: plinth.dev/v1
kind: Environment
metadata: {name: qa}
spec: {tier: staging}
---
apiVersion: plinth.dev/v1
kind: Template
metadata: {name: worker}
spec:
  version: "1.0.0"
  workloads:
    - apiVersion: score.dev/v1b1
      metadata: {name: "${app.name}"}
      containers:
        main: {image: registry.local/worker:1}
"""


def organisation_names(world: World, kind: str) -> list[str]:
    """Return the names of teams, projects or environments."""
    return [r["name"] for r in world.platform.organisation(kind, limit=50, page_token=None).items]


def test_organisation_documents_need_a_platform_engineer(world: World) -> None:
    ada, pat = world.actor("ada"), world.actor("pat")
    denied = world.platform.plan(ada, PlanRequest(environment="dev", documents=ORG_DOCUMENTS))
    assert denied["outcome"] == "deny"
    with pytest.raises(GateDenied, match="platform-engineer"):
        world.platform.apply(ada, denied["digest"])
    assert "data" not in organisation_names(world, "teams")

    plan = world.platform.plan(
        pat, PlanRequest(environment="dev", project="platform-tools", documents=ORG_DOCUMENTS)
    )
    assert plan["outcome"] == "allow"
    assert world.platform.apply(pat, plan["digest"])["status"] == "applied"
    assert "data" in organisation_names(world, "teams")
    assert "warehouse" in organisation_names(world, "projects")
    qa = next(
        e
        for e in world.platform.organisation("environments", limit=50, page_token=None).items
        if e["name"] == "qa"
    )
    assert (qa["tier"], qa["protected"]) == ("staging", False)
    worker = world.platform.template("worker", None)
    assert worker["version"] == "1.0.0"

    again = world.platform.plan(
        pat, PlanRequest(environment="dev", project="platform-tools", documents=ORG_DOCUMENTS)
    )
    assert set(actions(again).values()) == {"no-op"}


def test_upgrade_conflict_is_reported_and_cannot_be_applied(world: World) -> None:
    ada = world.actor("ada")
    override = {"path": "containers.main.variables.LOG_LEVEL", "value": "debug"}
    doc: dict[str, Any] = {
        "apiVersion": "plinth.dev/v1",
        "kind": "Application",
        "metadata": {"name": "shop"},
        "spec": {"template": "web-service", "version": "1.0.0", "overrides": [override]},
    }
    first = world.platform.plan(ada, PlanRequest(environment="dev", documents=yaml.safe_dump(doc)))
    world.platform.apply(ada, first["digest"])

    del doc["spec"]["version"]
    upgrade = world.platform.plan(
        ada, PlanRequest(environment="dev", documents=yaml.safe_dump(doc), upgrade=True)
    )
    assert [c["path"] for c in upgrade["conflicts"]] == ["containers.main.variables.LOG_LEVEL"]
    assert upgrade["outcome"] == "deny"
    upgrade_gate = next(v for v in upgrade["verdicts"] if v["gate"] == "template-upgrade")
    assert upgrade_gate["suggestions"]
    with pytest.raises(Conflict, match="upgrade conflicts"):
        world.platform.apply(ada, upgrade["digest"])
    app = world.platform.workload("shop", kind="Application", environment="dev", project=None)
    assert app["template_version"] == "1.0.0"


def test_deleting_an_application_removes_its_workloads_and_resources(world: World) -> None:
    ada = world.actor("ada")
    plan = world.platform.plan(ada, PlanRequest(environment="dev", documents=application("shop")))
    world.platform.apply(ada, plan["digest"])
    converge(world.platform)
    assert world.fake.names() == {"shop", "shop-db", "shop-route"}

    with pytest.raises(InvalidInput, match="belongs to application 'shop'"):
        world.platform.plan(
            ada, PlanRequest(environment="dev", delete_kind="Workload", delete_name="shop")
        )
    delete = world.platform.plan(
        ada, PlanRequest(environment="dev", delete_kind="Application", delete_name="shop")
    )
    assert actions(delete)[("Application", "shop")] == "delete"
    assert actions(delete)[("Workload", "shop")] == "delete"
    world.platform.apply(ada, delete["digest"])
    converge(world.platform)
    assert world.fake.names() == set()
    listed = world.platform.list_workloads(
        kind="Application", environment="dev", project=None, limit=10, page_token=None
    )
    assert listed.items == []


def test_an_approval_is_not_replayed_for_a_later_identical_plan(world: World) -> None:
    ada, pat = world.actor("ada"), world.actor("pat")
    big = PlanRequest(environment="dev", documents=application("shop", memory="2Gi"))
    plan = world.platform.plan(ada, big)
    world.platform.review(pat, plan["digest"], approve=True, reason="for the sale only")
    world.platform.apply(ada, plan["digest"])
    converge(world.platform)
    delete = world.platform.plan(
        ada, PlanRequest(environment="dev", delete_kind="Application", delete_name="shop")
    )
    world.platform.apply(ada, delete["digest"])
    converge(world.platform)

    again = world.platform.plan(ada, big)  # same state as the first time: same inputs
    assert again["status"] == "needs_approval"
    assert again["applied_at"] is None
    result = world.platform.apply(ada, again["digest"])
    assert result["status"] == "waiting_approval"  # the old approval must not count
