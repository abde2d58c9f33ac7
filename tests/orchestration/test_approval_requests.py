"""Bounded autonomy on a real store: an agent alone inside its envelope, approval requests beyond.

The pipeline here is template bounds, cost and autonomy: which agent may change
which project at all is the authorization gate's concern, tested with it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from plinth.capabilities.agents import service as agents
from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import FrozenClock
from plinth.core.errors import Conflict, Forbidden, InvalidInput
from plinth.orchestration import autonomy, decisions
from plinth.orchestration.gates.autonomy import AutonomyGate
from plinth.orchestration.gates.cost import CostGate
from plinth.orchestration.gates.template_bounds import TemplateBoundsGate
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import application

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TTL = 3600
ENVELOPE = {
    "actions": ["create", "update"],
    "environments": ["dev", "staging"],
    "max_cost_delta_per_change": "25",
    "max_cost_delta_per_day": "40",
    "max_accelerators": 0,
    "approval_ttl_seconds": TTL,
}
# 0.1 USD per vCPU-hour: a service with one vCPU costs 73.00 USD a month (730 hours).
RATES = {
    "apiVersion": "plinth.dev/v1",
    "kind": "PriceBook",
    "metadata": {"name": "fake-rates"},
    "spec": {
        "source": "test rates",
        "rates": [
            {
                "sku": sku,
                "provider": "fake",
                "region": "local",
                "price_type": "on_demand",
                "unit": unit,
                "amount": amount,
            }
            for sku, unit, amount in (
                ("compute.vcpu", "vcpu-hour", "0.1"),
                ("compute.memory", "gib-hour", "0"),
            )
        ],
    },
}


@pytest.fixture
def clock() -> FrozenClock:
    """Nine in the morning (UTC), so that "today" has started and the day can end."""
    return FrozenClock(START)


@pytest.fixture
def bot(world: World) -> Actor:
    """Agent bot of team payments, priced services, and a pipeline with the autonomy gate."""
    world.platform.pipeline.gates[:] = [TemplateBoundsGate(), CostGate(), AutonomyGate()]
    pat = world.actor("pat")
    priced = world.platform.plan(pat, PlanRequest(environment="dev", documents=yaml.dump(RATES)))
    assert world.platform.apply(pat, priced["digest"])["status"] == "applied"
    with world.platform.db.transaction() as session:
        agents.upsert_agent(
            session,
            name="bot",
            spec={"team": "payments", "purpose": "deploys previews", "autonomy": ENVELOPE},
            box=world.platform.box,
            ids=world.platform.ids,
            clock=world.clock,
        )
    return world.actor("bot")


def service(name: str, cpu: str) -> str:
    """Return a Score workload whose one container has a ``cpu`` limit."""
    container = {"image": "registry.local/app:1", "resources": {"limits": {"cpu": cpu}}}
    doc = {"apiVersion": "score.dev/v1b1", "metadata": {"name": name}}
    return yaml.dump(doc | {"containers": {"main": container}})


def plan(world: World, actor: Actor, docs: str, env: str = "dev") -> dict[str, Any]:
    """Plan documents for project checkout as ``actor``."""
    request = PlanRequest(environment=env, project="checkout", documents=docs)
    return world.platform.plan(actor, request)


def approve(world: World, user: str, digest: str, *, yes: bool = True) -> Any:
    """Record ``user``'s decision, then apply what it approved on the agent's behalf."""
    approver = world.actor(user)
    with world.platform.db.transaction() as session:
        record = decisions.get_plan(session, digest)
        decisions.record_approval(
            session,
            record,
            approver=approver,
            approve=yes,
            reason="ok",
            ids=world.platform.ids,
            clock=world.clock,
        )
    with world.platform.db.transaction() as session:
        return autonomy.approve_and_apply(session, digest, apply=world.platform.applier.apply)


def item(world: World, digest: str) -> dict[str, Any]:
    """Return the approval request of a plan."""
    with world.platform.db.read() as session:
        return decisions.wait_status(session, digest, now=world.clock.now())


def listed(world: World, status: str = "pending", **filters: Any) -> list[str]:
    """Return the digests of the approval requests one listing shows."""
    with world.platform.db.read() as session:
        page = decisions.list_pending(
            session, limit=50, page_token=None, status=status, now=world.clock.now(), **filters
        )
        return [p.digest for p in page.items]


def audit_of(world: World, digest: str) -> list[AuditRecord]:
    """Return the audit records about a plan, oldest first."""
    with world.platform.db.transaction() as session:
        stmt = select(AuditRecord).where(AuditRecord.subject == f"plan/{digest}")
        return list(session.scalars(stmt.order_by(AuditRecord.seq)))


def verdict(plan_: dict[str, Any]) -> dict[str, Any]:
    """Return the autonomy gate's verdict of a plan."""
    return dict(next(v for v in plan_["verdicts"] if v["gate"] == "autonomy"))


def test_inside_the_envelope_the_agent_applies_alone_until_the_day_is_spent(
    world: World, bot: Actor
) -> None:
    for name in ("a", "b"):  # 18.25 USD/month each: 36.50 today
        planned = plan(world, bot, service(name, "0.25"))
        assert verdict(planned)["reasons"] == ["inside bot's autonomy envelope"]
        assert world.platform.apply(bot, planned["digest"])["status"] == "applied"
    with world.platform.db.read() as session:
        assert autonomy.spent_today(session, "bot", now=world.clock.now()) == Decimal("36.50")
    third = plan(world, bot, service("c", "0.1"))  # 7.30 more: 43.80 > 40
    assert third["status"] == "needs_approval"
    assert verdict(third)["reasons"] == [
        "with this change bot would add 43.80 USD/month today (36.50 USD/month already applied "
        "since 00:00 UTC); bot may add at most 40.00 USD/month per day without approval"
    ]
    assert world.platform.apply(bot, third["digest"])["status"] == "waiting_approval"
    world.clock.advance(15 * 3600)  # past midnight UTC: a new day, nothing spent yet
    assert world.platform.apply(bot, third["digest"])["status"] == "applied"
    created = audit_of(world, third["digest"])[0]
    assert created.action == "plan.created" and created.actor == "bot"
    assert created.data["identity"]["kind"] == "agent"
    assert created.data["monthly_delta"] == "7.30" and created.data["inputs"]


def test_a_prod_change_waits_for_the_owner_team_and_approving_applies_it_as_the_agent(
    world: World, bot: Actor
) -> None:
    planned = plan(world, bot, service("web", "0.1"), env="prod")
    digest = planned["digest"]
    assert planned["status"] == "needs_approval"
    assert len(verdict(planned)["reasons"]) == 2  # prod is outside: environment and may_touch_prod
    request = item(world, digest)
    assert request["status"] == "pending" and request["requested_by"] == "bot"
    assert request["team"] == "payments" and request["cost"]["monthly_delta"] == "7.30"
    assert request["expires_at"] == START + timedelta(seconds=TTL)
    assert any("may_touch_prod" in r for r in request["reasons"])
    for who, sees in (("rita", True), ("pat", True), ("ada", True), ("dana", False)):
        assert (digest in listed(world, for_actor=world.actor(who))) is sees, who
    assert listed(world, for_actor=bot) == [digest]
    assert listed(world, team="ml-research") == [] and listed(world, team="payments") == [digest]
    assert world.platform.apply(bot, digest)["status"] == "waiting_approval"

    with pytest.raises(Forbidden, match="only humans approve plans"):
        approve(world, "bot", digest)
    with pytest.raises(Forbidden, match="needs the release-manager role in that team"):
        approve(world, "ada", digest)
    with pytest.raises(Forbidden, match="routed to team 'payments'"):
        approve(world, "dana", digest)
    applied = approve(world, "rita", digest)
    assert applied.status == "applied" and applied.record.actor == "bot"
    assert item(world, digest)["status"] == "applied"
    assert listed(world, "applied") == [digest] and listed(world) == []

    trail = audit_of(world, digest)
    assert [(r.action, r.actor) for r in trail] == [
        ("plan.created", "bot"),
        ("plan.decision", "bot"),
        ("plan.approved", "rita"),
        ("plan.decision", "bot"),
        ("plan.applied", "bot"),
    ]
    assert trail[0].data["approval_request"]["team"] == "payments"
    assert trail[2].data["routed_to"] == "payments"
    assert trail[3].data["decision"] == "allow" and trail[3].data["approvals"][0]["approver"] == (
        "rita"
    )
    assert world.platform.audit_verify()["ok"] is True


def test_an_expired_request_cannot_be_approved_and_planning_again_renews_it(
    world: World, bot: Actor
) -> None:
    digest = plan(world, bot, service("web", "0.1"), env="prod")["digest"]
    world.clock.advance(TTL)
    assert item(world, digest)["status"] == "expired"
    assert listed(world) == [] and listed(world, "expired") == [digest]
    assert listed(world, "all") == [digest]
    expired_at = (START + timedelta(seconds=TTL)).isoformat()
    with pytest.raises(Conflict, match=re.escape(f"expired at {expired_at}")):
        approve(world, "rita", digest)
    again = plan(world, bot, service("web", "0.1"), env="prod")
    assert again["digest"] == digest and again["status"] == "needs_approval"
    renewed = item(world, digest)
    assert renewed["status"] == "pending"
    assert renewed["expires_at"] == START + timedelta(seconds=2 * TTL)
    assert approve(world, "rita", digest).status == "applied"


def test_outside_prod_a_change_role_of_the_owner_team_approves(world: World, bot: Actor) -> None:
    planned = plan(world, bot, service("big", "1"), env="staging")  # 73.00 > 25.00 per change
    assert verdict(planned)["reasons"][0].startswith("the change adds 73.00 USD/month; bot may")
    assert approve(world, "ada", planned["digest"]).status == "applied"


def test_a_rejected_request_is_not_applied_and_waiting_ends(world: World, bot: Actor) -> None:
    digest = plan(world, bot, service("web", "0.1"), env="prod")["digest"]
    ticks: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        ticks.append(seconds)
        now[0] += seconds

    waited = autonomy.poll(
        lambda: item(world, digest),
        timeout_s=2,
        interval_s=0.5,
        sleep=sleep,
        monotonic=lambda: now[0],
    )
    assert waited["status"] == "pending" and ticks == [0.5, 0.5, 0.5, 0.5]
    assert approve(world, "rita", digest, yes=False) is None
    assert autonomy.poll(lambda: item(world, digest), timeout_s=60)["status"] == "rejected"
    assert listed(world, "rejected") == [digest]
    with pytest.raises(Conflict, match="rejected"):
        world.platform.apply(bot, digest)


def test_plans_of_humans_keep_going_to_platform_engineers(world: World, bot: Actor) -> None:
    ada = world.actor("ada")
    digest = plan(world, ada, application("shop", memory="2Gi"))["digest"]
    request = item(world, digest)
    assert request["status"] == "pending" and request["team"] == ""
    assert request["expires_at"] is None
    assert digest in listed(world, for_actor=world.actor("pat"))
    assert digest not in listed(world, for_actor=world.actor("rita"))
    assert digest not in listed(world, for_actor=ada)
    with pytest.raises(Forbidden, match="platform-engineer"):
        approve(world, "rita", digest)
    assert approve(world, "pat", digest) is None  # approved: ada applies it herself
    assert item(world, digest)["status"] == "approved"
    assert world.platform.apply(ada, digest)["status"] == "applied"


def test_refusals_are_audited_and_unknown_statuses_refused(world: World, bot: Actor) -> None:
    digest = plan(world, bot, service("web", "0.1"), env="prod")["digest"]
    with world.platform.db.transaction() as session:
        autonomy.record_refusal(
            session, digest, approver=bot, refused="only humans approve", clock=world.clock
        )
    refused = audit_of(world, digest)[-1]
    assert refused.action == "plan.approval_refused" and refused.actor == "bot"
    assert refused.data["approver"]["kind"] == "agent"
    with pytest.raises(InvalidInput, match="unknown approval status 'maybe'"):
        listed(world, "maybe")
