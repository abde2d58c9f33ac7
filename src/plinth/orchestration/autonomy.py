"""Bounded autonomy: what the autonomy gate knows of an agent, and approval requests.

An agent acts on its own inside its autonomy envelope (``gates/autonomy.py``
decides on plain data: :func:`agent_facts` gathers it). Beyond the envelope, a plan
becomes an approval request.

A plan whose gates answer ``needs_approval`` becomes an approval request; its id
is the plan's digest. A request of a registered agent is routed to the humans of
the agent's owner team and expires ``approval_ttl_seconds`` (from the agent's
autonomy envelope) after it was made; a request of a human (or of the built-in
janitor) is routed to platform engineers and does not expire, as before.

The status of a request follows from its plan and the time::

    plan needs_approval, not expired -> pending      plan approved -> approved
    plan needs_approval, expired     -> expired      plan rejected -> rejected
    plan applied                     -> applied

An expired request cannot be approved: the agent plans again, which opens a new
round with a new request (same digest, a fresh TTL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from plinth.capabilities.agents import service as agents
from plinth.capabilities.audit import service as audit
from plinth.capabilities.authz import Authorizer, approve_request
from plinth.capabilities.finops.estimate import money
from plinth.capabilities.finops.pricebook import current_pricebook
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor, Role
from plinth.core.clock import Clock
from plinth.core.errors import InvalidInput, NotFound
from plinth.infrastructure.store.pagination import Page, paginate
from plinth.orchestration.gates.autonomy import requested_accelerators
from plinth.orchestration.records import ApprovalRequestRecord, PlanRecord

__all__ = [
    "REQUEST_STATUSES",
    "RequestFilter",
    "actor_identity",
    "agent_facts",
    "approve_and_apply",
    "is_expired",
    "list_requests",
    "may_approve",
    "open_request",
    "poll",
    "record_refusal",
    "request_as_dict",
    "request_facts",
    "request_of",
    "request_status",
    "spent_today",
]

R = TypeVar("R")
REQUEST_STATUSES = ("pending", "approved", "rejected", "expired", "applied", "all")
FINAL_STATUSES = frozenset({"approved", "rejected", "expired", "applied"})


def spent_today(session: Session, agent: str, *, now: datetime) -> Decimal:
    """Return what an agent added to the monthly cost with the plans it applied today (UTC).

    Only increases count: deleting something does not earn back allowance for the day.
    """
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stmt = select(PlanRecord.body).where(
        PlanRecord.actor == agent,
        PlanRecord.status == "applied",
        PlanRecord.applied_at >= midnight,
    )
    deltas = (
        Decimal((body.get("cost") or {}).get("monthly_delta") or 0)
        for body in session.scalars(stmt)
    )
    return sum((d for d in deltas if d > 0), Decimal(0))


def agent_facts(
    session: Session, actor: Actor, body: dict[str, Any], *, now: datetime
) -> dict[str, Any] | None:
    """Return what the autonomy gate needs to know of a registered agent (None if not one)."""
    row = agents.get_agent(session, actor.name)
    if row is None:
        return None
    envelope = agents.agent_spec(row).autonomy
    amount = envelope.max_cost_delta_per_change, envelope.max_cost_delta_per_day
    return {
        "name": row.name,
        "team": row.team,
        "currency": (body.get("cost") or {}).get("currency") or current_pricebook(session).currency,
        "spent_today": money(spent_today(session, row.name, now=now), 2),
        "accelerators": requested_accelerators(body.get("changes", [])),
        "autonomy": {
            "actions": list(envelope.actions),
            "environments": list(envelope.environments),
            "max_cost_delta_per_change": None if amount[0] is None else str(amount[0]),
            "max_cost_delta_per_day": None if amount[1] is None else str(amount[1]),
            "max_accelerators": envelope.max_accelerators,
            "may_delete": envelope.may_delete,
            "may_touch_prod": envelope.may_touch_prod,
            "approval_ttl_seconds": envelope.approval_ttl_seconds,
        },
    }


def actor_identity(actor: Actor) -> dict[str, Any]:
    """Return who acted, for the audit chain: kind, and for an agent its token's audience."""
    data: dict[str, Any] = {"kind": actor.kind, "persona": actor.persona}
    # Set on actors authenticated by an agent's signed token (absent for humans).
    for key in ("audience", "jti"):
        value = getattr(actor, key, "")
        if value:
            data[key] = str(value)
    scopes = getattr(actor, "scopes", ())
    if scopes:
        data["scopes"] = sorted(scopes)
    return data


def request_of(session: Session, record: PlanRecord) -> ApprovalRequestRecord | None:
    """Return the approval request of a plan's current round, or None."""
    row = session.get(ApprovalRequestRecord, record.digest)
    return row if row is not None and row.round == record.round else None


def open_request(
    session: Session, record: PlanRecord, *, actor: Actor, reasons: Sequence[str], now: datetime
) -> ApprovalRequestRecord:
    """Open the approval request of a plan that needs one (once per round of the plan)."""
    row = session.get(ApprovalRequestRecord, record.digest)
    if row is not None and row.round == record.round:
        return row
    team, expires_at = "", None
    agent = agents.get_agent(session, actor.name) if actor.kind == "agent" else None
    if agent is not None:
        ttl = agents.agent_spec(agent).autonomy.approval_ttl_seconds
        team, expires_at = agent.team, now + timedelta(seconds=ttl)
    if row is None:
        row = ApprovalRequestRecord(digest=record.digest)
        session.add(row)
    row.round, row.requested_by, row.team = record.round, actor.name, team
    row.reasons, row.created_at, row.expires_at = list(reasons), now, expires_at
    return row


def request_facts(request: ApprovalRequestRecord) -> dict[str, Any]:
    """Return a request as audit data: routed to, until when, why."""
    return {
        "team": request.team,
        "expires_at": request.expires_at.isoformat() if request.expires_at else None,
        "reasons": list(request.reasons),
    }


def is_expired(request: ApprovalRequestRecord | None, now: datetime) -> bool:
    """True if a request has a TTL and it has run out."""
    return request is not None and request.expires_at is not None and now >= request.expires_at


def request_status(record: PlanRecord, request: ApprovalRequestRecord | None, now: datetime) -> str:
    """Return a request's status: pending, approved, rejected, expired or applied."""
    if record.status == "needs_approval":
        return "expired" if is_expired(request, now) else "pending"
    return record.status


def may_approve(
    approver: Actor,
    record: PlanRecord,
    team: str,
    env_tier: str,
    *,
    authorizer: Authorizer | None = None,
    plan_team: str = "",
) -> str | None:
    """Return why ``approver`` may not decide on a plan's request, or None if they may.

    Cedar decides (the ``approve`` action; see ``capabilities/authz/cedar``). ``team``
    is the team the request is routed to: the owner team of the agent that asked, or ""
    for a plan of a human (or of the janitor), which platform engineers decide.
    ``env_tier`` is ``prod`` for production and protected environments.
    """
    request = approve_request(
        approver,
        plan=record.digest,
        author=record.actor,
        team=team or plan_team,
        project=record.project,
        environment=record.environment,
        tier=env_tier,
        protected=env_tier == "prod",
        routed=bool(team),
    )
    decision = (authorizer or Authorizer.default()).decide(request)
    if decision.outcome == "allow":
        return None
    return "; ".join(decision.reasons) or f"{approver.name} may not approve this plan"


class RequestFilter:
    """Which requests a listing shows: by status, routed team, and whose they are."""

    def __init__(
        self,
        *,
        status: str = "pending",
        team: str | None = None,
        for_actor: Actor | None = None,
        now: datetime,
    ) -> None:
        if status not in REQUEST_STATUSES:
            known = ", ".join(REQUEST_STATUSES)
            raise InvalidInput(f"unknown approval status {status!r}: use one of {known}")
        self.status, self.team, self.for_actor, self.now = status, team, for_actor, now

    def conditions(self) -> list[ColumnElement[bool]]:
        """Return the SQL conditions of this filter (on plans outer-joined with requests)."""
        req, plan = ApprovalRequestRecord, PlanRecord
        live = or_(req.expires_at.is_(None), req.expires_at > self.now)
        by_status: dict[str, ColumnElement[bool]] = {
            "pending": and_(plan.status == "needs_approval", live),
            "expired": and_(plan.status == "needs_approval", req.expires_at <= self.now),
            "approved": plan.status == "approved",
            "rejected": plan.status == "rejected",
            "applied": and_(plan.status == "applied", req.digest.is_not(None)),
            "all": or_(
                plan.status.in_(("needs_approval", "approved", "rejected")),
                req.digest.is_not(None),
            ),
        }
        found = [by_status[self.status]]
        if self.team is not None:
            found.append(req.team == self.team)
        if self.for_actor is not None:
            found.append(_routed_to(self.for_actor))
        return found


def _routed_to(actor: Actor) -> ColumnElement[bool]:
    """Requests an actor should see as theirs: an agent's own, or those routed to a human."""
    req = ApprovalRequestRecord
    if actor.kind != "human":
        return PlanRecord.actor == actor.name
    if actor.has_role(Role.PLATFORM_ENGINEER):
        return PlanRecord.actor != actor.name
    teams = actor.teams
    if not teams:
        return false()
    return and_(req.team.in_(teams), PlanRecord.actor != actor.name)


def list_requests(
    session: Session, which: RequestFilter, *, limit: int, page_token: str | None
) -> Page[PlanRecord]:
    """Return a page of plans with approval requests that match ``which``, by digest."""
    joined = and_(
        ApprovalRequestRecord.digest == PlanRecord.digest,
        ApprovalRequestRecord.round == PlanRecord.round,
    )
    stmt = select(PlanRecord).outerjoin(ApprovalRequestRecord, joined)
    stmt = stmt.where(*which.conditions())
    return paginate(session, stmt, PlanRecord.digest, limit=limit, page_token=page_token)


def request_as_dict(
    record: PlanRecord, request: ApprovalRequestRecord | None, now: datetime
) -> dict[str, Any]:
    """Return what a request adds to a plan in the approvals list (and when waiting)."""
    return {
        "digest": record.digest,
        "status": request_status(record, request, now),
        "plan_status": record.status,
        "requested_by": request.requested_by if request else record.actor,
        "team": request.team if request else "",
        "created_at": request.created_at if request else record.created_at,
        "expires_at": request.expires_at if request else None,
    }


def record_refusal(
    session: Session, plan_digest: str, *, approver: Actor, refused: str, clock: Clock
) -> None:
    """Put a refused approval or rejection on the audit chain (in a transaction of its own)."""
    audit.append(
        session,
        actor=approver.name,
        action="plan.approval_refused",
        subject=f"plan/{plan_digest}",
        data={"reason": refused, "approver": actor_identity(approver)},
        clock=clock,
    )


def approve_and_apply(
    session: Session, plan_digest: str, *, apply: Callable[[Session, str, Actor], R]
) -> R | None:
    """Apply an approved request of an agent, as that agent: exactly the plan approved.

    Call it after the approval's transaction, in a new one: ``apply`` is the applier's
    ``apply(session, digest, actor)``, which checks the plan is still current, runs
    the gates again (the approval lets ``needs_approval`` pass) and writes desired
    state. Returns None when there is nothing to apply on anyone's behalf: a human's
    plan (its author applies it), a rejected request, or a disabled agent.
    """
    record = session.get(PlanRecord, plan_digest)
    if record is None:
        raise NotFound(f"no plan with digest {plan_digest!r}")
    request = request_of(session, record)
    if record.status != "approved" or request is None or not request.team:
        return None
    row = agents.get_agent(session, record.actor)
    if row is None or row.disabled_at is not None:
        return None
    return apply(session, plan_digest, identity.actor_by_name(session, record.actor))


def poll(
    read: Callable[[], dict[str, Any]],
    *,
    timeout_s: float,
    interval_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Call ``read`` until its ``status`` is final or ``timeout_s`` passed; return the last."""
    deadline = monotonic() + max(timeout_s, 0.0)
    while True:
        current = read()
        left = deadline - monotonic()
        if current.get("status") in FINAL_STATUSES or left <= 0:
            return current
        sleep(min(interval_s, left))
