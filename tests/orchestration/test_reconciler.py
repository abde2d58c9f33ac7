"""The reconciler, driven synchronously: order, secrets, drift, retries and failures."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.inventory.models import ResourceEvent
from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.store.db import Base
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import converge, resource, resources, workload
from tests.support import wait_until


def deploy(world: World, docs: str, *, environment: str = "dev") -> None:
    """Plan and apply ``docs`` as ada (nothing is reconciled yet)."""
    ada = world.actor("ada")
    plan = world.platform.plan(ada, PlanRequest(environment=environment, documents=docs))
    assert world.platform.apply(ada, plan["digest"])["status"] == "applied"


def events(world: World, name: str) -> list[tuple[str, str]]:
    """Return ``(reason, message)`` of a resource's events, oldest first."""
    with world.platform.db.transaction() as session:
        rows = session.scalars(
            select(ResourceEvent).where(ResourceEvent.resource == name).order_by(ResourceEvent.id)
        )
        return [(e.reason, e.message) for e in rows]


def reconcile(world: World, name: str) -> float | None:
    """Reconcile one resource by name; return when the queue should look again."""
    return world.platform.reconciler.reconcile(resource(world.platform, name).id).requeue_after


def test_a_workload_waits_for_its_database(world: World) -> None:
    deploy(world, workload("web"))
    reconcile(world, "web")
    web = resource(world.platform, "web")
    assert web.phase == "waiting"
    assert "web-db" in web.message
    assert world.fake.ops("apply") == []

    reconcile(world, "web-db")
    reconcile(world, "web")
    assert world.fake.ops("apply") == ["web-db", "web"]
    assert resource(world.platform, "web").phase == "running"
    live = world.fake.by_name("web").spec["containers"]["main"]["env"]["DATABASE_URL"]
    assert live == world.fake.by_name("web-db").outputs["uri"]
    stored = resource(world.platform, "web").desired["containers"]["main"]["env"]
    assert stored["DATABASE_URL"] == "${resources.web-db.uri}"  # desired keeps the placeholder
    assert [r for r, _ in events(world, "web")] == ["Created"]


def test_a_route_waits_for_its_service_url(world: World) -> None:
    deploy(world, workload("web", db=None) + "---\n" + ROUTED)
    reconcile(world, "site-route")
    assert resource(world.platform, "site-route").phase == "waiting"
    converge(world.platform)
    backend = world.fake.by_name("site-route").spec["backend_url"]
    assert backend == world.fake.by_name("site").outputs["urls"]["web"]


ROUTED = """
apiVersion: score.dev/v1b1
metadata: {name: site}
service:
  ports: {web: {port: 8080}}
containers:
  main: {image: registry.local/site:1}
resources:
  route:
    type: route
    params: {host: site.localhost, path: /, port: 8080}
"""


def test_secret_outputs_are_sealed_and_never_shown(world: World) -> None:
    deploy(world, workload("web"))
    converge(world.platform)
    password = world.fake.by_name("web-db").outputs["password"]
    db = resource(world.platform, "web-db")
    assert "password" not in db.outputs and "uri" not in db.outputs
    assert db.outputs["host"] == "127.0.0.1"
    assert db.sealed_outputs and password not in db.sealed_outputs
    assert json.loads(world.platform.box.open(db.sealed_outputs))["password"] == password

    shown = {
        r["name"]: r
        for r in world.platform.list_resources(
            environment="dev", project=None, limit=50, page_token=None
        ).items
    }
    assert shown["web-db"]["outputs"]["password"] == "<secret>"
    assert shown["web-db"]["outputs"]["uri"] == "<secret>"
    detail = world.platform.workload("web", environment="dev", project="checkout", describe=True)
    assert password not in json.dumps(detail, default=str)

    with world.platform.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(text(f"SELECT * FROM {table.name}")):
                assert password not in str(tuple(row)), f"the password leaked into {table.name}"


def test_lost_resource_is_repaired_and_audited(world: World) -> None:
    deploy(world, workload("web"))
    converge(world.platform)
    world.fake.lose("web-db")
    assert reconcile(world, "web-db") is not None
    assert "web-db" in world.fake.names()
    assert events(world, "web-db")[-1][0] == "Repaired"
    assert "drift repaired" in events(world, "web-db")[-1][1]
    with world.platform.db.transaction() as session:
        repaired = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "resource.repaired")
        ).all()
    assert [r.subject for r in repaired] == ["resource/dev/checkout/web-db"]
    assert repaired[0].actor == "reconciler"
    assert world.platform.audit_verify()["ok"] is True


def test_hand_edited_resource_is_put_back(world: World) -> None:
    deploy(world, workload("web"))
    converge(world.platform)
    world.fake.tamper("web", restart="never")
    reconcile(world, "web")
    assert "restart" in world.fake.by_name("web").spec
    assert world.fake.by_name("web").spec["restart"] == "always"
    assert events(world, "web")[-1] == ("Repaired", "drift repaired: spec changed")


def test_converged_resource_is_left_alone(world: World) -> None:
    deploy(world, workload("web"))
    converge(world.platform)
    applied = len(world.fake.ops("apply"))
    reconcile(world, "web")
    reconcile(world, "web-db")
    assert len(world.fake.ops("apply")) == applied
    assert [r for r, _ in events(world, "web")] == ["Created"]


@pytest.mark.parametrize(
    "error", [TemporaryError("quota exceeded"), RuntimeError("quota exceeded")]
)
def test_temporary_failures_back_off(world: World, error: Exception) -> None:
    deploy(world, workload("web"))
    world.fake.fail("web-db", error, times=2)

    first = reconcile(world, "web-db")
    db = resource(world.platform, "web-db")
    assert (db.phase, db.failures, db.message) == ("retrying", 1, "quota exceeded")
    assert first is not None and first > 0
    assert db.next_attempt_at == world.clock.now() + timedelta(seconds=first)

    reconcile(world, "web-db")  # too early: the back-off holds, the provider is not called
    world.clock.advance(first - 0.5)
    reconcile(world, "web-db")
    assert world.fake.ops("apply", "web-db") == ["web-db"]

    world.clock.advance(0.5)
    second = reconcile(world, "web-db")  # fails again: the delay grows
    assert second is not None and second > first
    assert resource(world.platform, "web-db").failures == 2
    assert len(world.fake.ops("apply", "web-db")) == 2

    world.clock.advance(second)
    reconcile(world, "web-db")
    db = resource(world.platform, "web-db")
    assert (db.phase, db.failures, db.next_attempt_at) == ("ready", 0, None)
    assert [r for r, _ in events(world, "web-db")] == ["Retrying", "Created"]


def test_temporary_error_retry_after_is_honoured(world: World) -> None:
    deploy(world, workload("web"))
    world.fake.fail("web-db", TemporaryError("rate limited", retry_after=30.0))
    assert reconcile(world, "web-db") == 30.0
    db = resource(world.platform, "web-db")
    assert db.next_attempt_at == world.clock.now() + timedelta(seconds=30)


def test_permanent_failure_is_not_retried_until_the_spec_changes(world: World) -> None:
    deploy(world, workload("web"))
    world.fake.fail("web-db", PermanentError("no such tier"), times=1)
    assert reconcile(world, "web-db") is None
    db = resource(world.platform, "web-db")
    assert (db.phase, db.message) == ("failed", "no such tier")
    summary = world.platform.workload("web", environment="dev", project="checkout")
    assert summary["phase"] == "failed"

    world.clock.advance(3600)
    reconcile(world, "web-db")
    assert world.fake.ops("apply", "web-db") == ["web-db"]
    assert resource(world.platform, "web-db").phase == "failed"

    deploy(world, workload("web", database="orders"))
    reconcile(world, "web-db")
    assert world.fake.ops("apply", "web-db") == ["web-db", "web-db"]
    db = resource(world.platform, "web-db")
    assert (db.phase, db.failures) == ("ready", 0)
    reasons = [r for r, _ in events(world, "web-db")]
    assert reasons[0] == "Failed" and reasons[1] in ("Created", "Updated") and len(reasons) == 2


def delete_web(world: World) -> None:
    """Plan and apply the deletion of workload web as ada."""
    ada = world.actor("ada")
    plan = world.platform.plan(
        ada, PlanRequest(environment="dev", delete_kind="Workload", delete_name="web")
    )
    world.platform.apply(ada, plan["digest"])


def test_destroy_failure_keeps_the_resource_until_it_succeeds(world: World) -> None:
    deploy(world, workload("web", db=None))
    converge(world.platform)
    delete_web(world)
    world.fake.fail("web", TemporaryError("busy"), op="destroy", times=1)
    delay = reconcile(world, "web")
    assert resource(world.platform, "web").deleting
    assert "web" in world.fake.names()
    assert delay is not None
    world.clock.advance(delay)
    reconcile(world, "web")
    assert "web" not in world.fake.names()
    assert "web" not in resources(world.platform)


def test_destroy_failure_is_recorded_and_backs_off(world: World) -> None:
    deploy(world, workload("web", db=None))
    converge(world.platform)
    delete_web(world)
    world.fake.fail("web", TemporaryError("busy"), op="destroy", times=1)
    again = reconcile(world, "web")
    assert again is not None and again > 0
    web = resource(world.platform, "web")
    assert (web.deleting, web.message, web.failures) == (True, "busy", 1)


def test_background_queue_converges_after_apply(world: World) -> None:
    world.platform.start()
    deploy(world, workload("web"))
    wait_until(
        lambda: (
            world.fake.names() == {"web", "web-db"}
            and resource(world.platform, "web").phase == "running"
        ),
        timeout=20,
        interval=0.05,
        what="the background queue to create both resources",
    )
