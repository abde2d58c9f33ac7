"""The janitor agent on a real platform: mark → notify → stop → delete, undo, and its limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.finops.janitor_models import JanitorCase
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceEvent
from plinth.core.errors import Conflict, Forbidden, GateDenied
from plinth.orchestration.janitor import Janitor, seed_janitor
from plinth.orchestration.plans import PlanRequest
from tests.capabilities.finops.janitor_world import meter, price_local
from tests.orchestration.conftest import World
from tests.orchestration.specs import PROD_READY, converge, resource, workload

DAY = 86400.0
MARK, STOPPED = "plinth.dev/janitor-mark", "plinth.dev/stopped"


def deploy(world: World, user: str, text: str, *, env: str = "dev") -> dict[str, Any]:
    """Plan and apply ``text`` as ``user``, then converge."""
    p = world.platform
    plan = p.plan(world.actor(user), PlanRequest(environment=env, documents=text))
    result = p.apply(world.actor(user), plan["digest"])
    converge(p)
    return result


def janitor_for(world: World) -> Janitor:
    """Create the janitor agent (if the seed did not) and prices for the fake provider."""
    with world.platform.db.transaction() as session:
        seed_janitor(session, ids=world.platform.ids, clock=world.clock)
        price_local(
            session,
            ids=world.platform.ids,
            clock=world.clock,
            provider="fake",
            price_type="on_demand",
        )
    return Janitor(world.platform)


def idle_for(world: World, name: str, days: float) -> None:
    """Meter ``days`` of near-zero CPU use for a resource, ending now."""
    record = resource(world.platform, name)
    with world.platform.db.transaction() as session:
        row = session.get(type(record), record.id)
        assert row is not None
        start = world.clock.now() - timedelta(days=days)
        meter(session, row, start=start, hours=int(days * 24), cpu=0.001, requested_cpu=0.5)


def wait(world: World, days: float, name: str = "web") -> None:
    """Let ``days`` pass while the workload keeps idling."""
    world.clock.advance(days * DAY)
    idle_for(world, name, days)


def workload_annotations(world: World, name: str, env: str = "dev") -> dict[str, str]:
    """Return a workload document's annotations."""
    with world.platform.db.read() as session:
        doc = inventory.require_document(
            session, kind="Workload", name=name, environment=env, project="checkout"
        )
        return dict(doc.body["metadata"].get("annotations") or {})


def actions(report: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (workload, action) of every step of a run."""
    return [(s["workload"], s["action"]) for s in report["steps"]]


def janitor_audit(world: World) -> list[tuple[str, str]]:
    """Return (actor, action) of the janitor's audit records, oldest first."""
    with world.platform.db.read() as session:
        rows = session.execute(
            select(AuditRecord.actor, AuditRecord.action).order_by(AuditRecord.seq)
        )
        return [(a, b) for a, b in rows if b.startswith("janitor.") or a == "janitor"]


def events(world: World, name: str = "web") -> list[str]:
    """Return the reasons of a resource's events, oldest first."""
    with world.platform.db.read() as session:
        stmt = select(ResourceEvent.reason).where(ResourceEvent.resource == name)
        return list(session.scalars(stmt.order_by(ResourceEvent.id)))


def test_the_full_sequence_is_audited_step_by_step(world: World) -> None:
    p, pat = world.platform, world.actor("pat")
    deploy(world, "ada", workload("web", db=None))
    janitor = janitor_for(world)
    idle_for(world, "web", 7)

    (candidate,) = janitor.candidates()
    assert candidate["workload"] == "web" and candidate["findings"][0]["kind"] == "idle"
    assert candidate["cost_basis"] == "estimate" and candidate["case"] is None

    assert actions(janitor.run(pat, dry_run=True)) == [("web", "would_mark")]
    assert MARK not in workload_annotations(world, "web")

    first = janitor.run(pat)
    assert actions(first) == [("web", "marked"), ("web", "notified")]
    assert workload_annotations(world, "web")[MARK].endswith("; 2026-11-28")
    assert "to team payments" in first["steps"][1]["detail"]
    assert actions(janitor.run(pat)) == [("web", "waiting")]

    wait(world, 3)
    assert actions(janitor.run(pat)) == [("web", "stopped")]
    assert workload_annotations(world, "web")[STOPPED] == "true"
    converge(p)
    assert resource(p, "web").desired["stopped"] is True
    assert world.fake.by_name("web").spec["stopped"] is True
    assert janitor.candidates()[0]["case"]["status"] == "stopped"

    world.clock.advance(7 * DAY)
    assert actions(janitor.run(pat)) == [("web", "deleted")]
    converge(p)
    assert "web" not in world.fake.names()
    with p.db.read() as session:
        assert (
            inventory.find_documents(session, kind="Workload", name="web", environment="dev") == []
        )

    steps = [a for _, a in janitor_audit(world) if a.startswith("janitor.") and a != "janitor.run"]
    assert steps == ["janitor.marked", "janitor.notified", "janitor.stopped", "janitor.deleted"]
    assert ("janitor", "plan.applied") in janitor_audit(world)
    assert [e for e in events(world) if e.startswith("Janitor")] == [
        "JanitorMarked",
        "JanitorNotice",
        "JanitorStopped",
        "JanitorDeleted",
    ]
    assert p.audit_verify()["ok"]
    with pytest.raises(Conflict, match="deletion is final"):
        janitor.undo(world.actor("ada"), "web", environment="dev")


def test_undo_before_deletion_restores_the_workload(world: World) -> None:
    p, pat, ada = world.platform, world.actor("pat"), world.actor("ada")
    deploy(world, "ada", workload("web", db=None))
    before = resource(p, "web").desired
    janitor = janitor_for(world)
    idle_for(world, "web", 7)
    janitor.run(pat)
    wait(world, 3)
    janitor.run(pat)
    converge(p)
    assert resource(p, "web").desired["stopped"] is True

    with pytest.raises(GateDenied):
        janitor.undo(world.actor("lee"), "web", environment="dev")
    done = janitor.undo(ada, "web", environment="dev")
    assert done["status"] == "applied" and done["removed"] == [MARK, STOPPED]
    converge(p)
    assert workload_annotations(world, "web") == {}
    assert resource(p, "web").desired == before
    assert "stopped" not in world.fake.by_name("web").spec
    assert ("ada", "janitor.undone") in janitor_audit(world)
    with p.db.read() as session:
        (case,) = session.scalars(select(JanitorCase))
        assert (case.status, case.closed_by, case.active_key) == ("undone", "ada", None)

    world.clock.advance(7 * DAY)
    idle_for(world, "web", 7)
    assert actions(janitor.run(pat)) == [("web", "snoozed")]
    with pytest.raises(Conflict, match="nothing to undo"):
        janitor.undo(ada, "web", environment="dev")


def test_owner_reapplying_dismisses_and_busy_again_clears(world: World) -> None:
    pat = world.actor("pat")
    deploy(world, "ada", workload("web", db=None))
    deploy(world, "ada", workload("api", db=None))
    janitor = janitor_for(world)
    idle_for(world, "web", 7)
    idle_for(world, "api", 7)
    assert sorted(actions(janitor.run(pat))) == [
        ("api", "marked"),
        ("api", "notified"),
        ("web", "marked"),
        ("web", "notified"),
    ]
    deploy(world, "ada", workload("web", db=None))  # the owner applies their own file again
    world.clock.advance(3 * DAY)
    idle_for(world, "web", 3)
    report = dict(actions(janitor.run(pat)))
    assert report == {"web": "dismissed", "api": "cleared"}  # api was not metered: not idle
    assert MARK not in workload_annotations(world, "api")
    assert ("janitor", "janitor.dismissed") in janitor_audit(world)


def test_production_steps_wait_for_a_human_approval(world: World) -> None:
    p, pat = world.platform, world.actor("pat")
    deploy(world, "rita", workload("web", db=None, **PROD_READY), env="prod")
    janitor = janitor_for(world)
    agent = janitor.agent()
    idle_for(world, "web", 7)
    assert actions(janitor.run(pat)) == [("web", "marked"), ("web", "notified")]
    wait(world, 3)
    (waiting,) = janitor.run(pat)["steps"]
    assert waiting["action"] == "waiting_approval"
    shown = workload_annotations(world, "web", "prod")
    assert MARK in shown and STOPPED not in shown
    digest = waiting["plan"]
    with pytest.raises(Forbidden):
        p.review(agent, digest, approve=True, reason="I approve myself")
    p.review(pat, digest, approve=True, reason="idle for a week")
    assert actions(janitor.run(pat)) == [("web", "stopped")]
    assert workload_annotations(world, "web", "prod")[STOPPED] == "true"

    world.clock.advance(7 * DAY)
    (delete,) = janitor.run(pat)["steps"]
    assert delete["action"] == "waiting_approval"
    p.review(pat, delete["plan"], approve=False, reason="keep it, it is the failover")
    assert actions(janitor.run(pat)) == [("web", "rejected")]
    assert MARK not in workload_annotations(world, "web", "prod")
    assert workload_annotations(world, "web", "prod")[STOPPED] == "true"  # what was applied stays


def test_the_janitor_cannot_act_outside_its_rights(world: World) -> None:
    p = world.platform
    janitor = janitor_for(world)
    agent = janitor.agent()
    assert agent.kind == "agent" and [g.role for g in agent.grants] == ["janitor"]
    new = p.plan(agent, PlanRequest(environment="dev", project="checkout", documents=workload("x")))
    assert new["status"] == "denied"
    assert "only updates and deletes" in new["verdicts"][0]["reasons"][0]
    team = "apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: rogue}\nspec: {}\n"
    assert p.plan(agent, PlanRequest(environment="dev", documents=team))["status"] == "denied"
    with pytest.raises(Forbidden, match="platform-engineer role or the janitor"):
        janitor.run(world.actor("ada"))
    assert janitor.run(agent)["steps"] == []  # the agent's own token may start a run


def test_application_workloads_are_only_recommended(world: World) -> None:
    from tests.orchestration.specs import application

    deploy(world, "ada", application("shop"))
    janitor = janitor_for(world)
    with world.platform.db.read() as session:
        (doc,) = inventory.list_documents(session, kind="Workload", owner="shop").items
        name = doc.name
    idle_for(world, name, 7)
    (step,) = janitor.run(world.actor("pat"))["steps"]
    assert step["action"] == "recommended" and "application 'shop'" in step["detail"]
    assert MARK not in workload_annotations(world, name)


def test_seeding_the_agent_twice_issues_no_second_token(world: World) -> None:
    with world.platform.db.transaction() as session:
        first = seed_janitor(session, ids=world.platform.ids, clock=world.clock)
        again = seed_janitor(session, ids=world.platform.ids, clock=world.clock)
    assert again == ""
    if first:  # the platform's own seed may already have created it
        assert world.platform.authenticate(first).name == "janitor"
    assert isinstance(Janitor(world.platform).agent(), Actor)
