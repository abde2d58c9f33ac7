"""Plans as records, approvals, and decisions on the audit chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.authz import authorizer_for
from plinth.capabilities.finops import reservations
from plinth.capabilities.finops.budgets import budget_facts, reserve_for_plan
from plinth.capabilities.finops.estimate import money
from plinth.capabilities.finops.models import BudgetReservation
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import Clock, SystemClock
from plinth.core.errors import Conflict, Forbidden, NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.pagination import Page, paginate
from plinth.orchestration import autonomy
from plinth.orchestration.agent_documents import policy_sets
from plinth.orchestration.capacity import capacity_facts
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind, combine
from plinth.orchestration.gates.pipeline import GatePipeline
from plinth.orchestration.model_registry import model_facts
from plinth.orchestration.plans import PlanDraft
from plinth.orchestration.policy_facts import policy_facts
from plinth.orchestration.records import ApprovalRecord, PlanRecord

__all__ = [
    "approval_item",
    "approvals_of",
    "decide",
    "decision_ref",
    "evaluate",
    "get_plan",
    "list_pending",
    "list_plans",
    "plan_as_dict",
    "plan_view",
    "reasons",
    "record_approval",
    "store_plan",
    "wait_status",
]

OPEN_STATUSES = ("planned", "needs_approval", "approved")
R = TypeVar("R")


def plan_view(
    session: Session,
    *,
    environment: str,
    project: str,
    team: str,
    body: dict[str, Any],
    plan_digest: str = "",
    now: datetime | None = None,
    actor: Actor | None = None,
) -> PlanView:
    """Build what gates see of a plan: its cost, the budgets it touches, the agent's envelope."""
    env = identity.get_environment(session, environment)
    cost = body.get("cost") or {}
    now = now or SystemClock().now()
    budgets: list[dict[str, Any]] = []
    if cost:
        budgets = budget_facts(
            session,
            environment=environment,
            project=project,
            team=team,
            now=now,
            exclude_plan=plan_digest,
        )
    changes = body.get("changes", [])
    extra: dict[str, Any] = {
        "cost": cost,
        "budgets": budgets,
        "models": model_facts(session, changes),
        "capacity": capacity_facts(session, changes, team=team, now=now),
        "policy": policy_facts(
            session,
            environment=environment,
            project=project,
            names={str(c.get("name")) for c in changes if c.get("name")},
        ),
    }
    if actor is not None and actor.kind == "agent":
        extra["agent"] = autonomy.agent_facts(session, actor, body, now=now)
    return PlanView(
        environment=environment,
        environment_tier=env.tier,
        environment_protected=env.protected,
        project=project,
        team=team,
        changes=tuple(body.get("changes", [])),
        violations=tuple(body.get("violations", [])),
        extra=extra,
    )


def evaluate(
    session: Session,
    pipeline: GatePipeline,
    *,
    actor: Actor,
    environment: str,
    project: str,
    team: str,
    body: dict[str, Any],
    plan_digest: str = "",
    now: datetime | None = None,
) -> list[Verdict]:
    """Run every configured gate over a plan body (budgets exclude the plan's own holds)."""
    view = plan_view(
        session,
        environment=environment,
        project=project,
        team=team,
        body=body,
        plan_digest=plan_digest,
        now=now,
        actor=actor,
    )
    settings = {"authorization_policies": policy_sets(session), "now": now or SystemClock().now()}
    return pipeline.evaluate(view, actor, GateContext(settings=settings))


def _status_for(outcome: VerdictKind) -> str:
    return {VerdictKind.DENY: "denied", VerdictKind.NEEDS_APPROVAL: "needs_approval"}.get(
        outcome, "planned"
    )


def store_plan(
    session: Session, draft: PlanDraft, *, actor: Actor, pipeline: GatePipeline, clock: Clock
) -> PlanRecord:
    """Evaluate gates on a draft, store it as a plan (idempotent by digest) and audit it."""
    plan_digest = draft.digest(actor.name)
    existing = session.get(PlanRecord, plan_digest)
    # An approval request that expired is asked again: a new round, a fresh TTL.
    if (
        existing is not None
        and existing.status in OPEN_STATUSES
        and not autonomy.is_expired(autonomy.request_of(session, existing), clock.now())
    ):
        return existing
    body: dict[str, Any] = {
        "team": draft.team,
        "changes": [c.as_dict() for c in draft.changes],
        "effects": draft.effects.as_dict(),
        "violations": draft.violations,
        "conflicts": draft.conflicts,
        "cost": draft.cost,
    }
    verdicts = evaluate(
        session,
        pipeline,
        actor=actor,
        environment=draft.environment,
        project=draft.project,
        team=draft.team,
        body=body,
        plan_digest=plan_digest,
        now=clock.now(),
    )
    if draft.conflicts:
        verdicts.append(
            Verdict(
                "template-upgrade",
                VerdictKind.DENY,
                tuple(f"upgrade conflict at {c.get('path')}" for c in draft.conflicts),
                (
                    "change the overrides so they agree with the new template version, "
                    "then plan again",
                ),
            )
        )
    outcome = combine(verdicts)
    body["verdicts"] = [v.as_dict() for v in verdicts]
    record = existing or PlanRecord(digest=plan_digest, round=1)
    if existing is not None:
        # The same plan again after it was denied, applied or rejected: a new round, in
        # which the gates are asked again and nothing decided or approved before counts.
        record.round += 1
        record.applied_at, record.decision_seq, record.decided_by = None, None, ""
        reservations.release(session, plan_digest=plan_digest)
    record.environment, record.project, record.actor = draft.environment, draft.project, actor.name
    record.created_at, record.status, record.outcome = (
        clock.now(),
        _status_for(outcome),
        outcome.value,
    )
    record.body, record.inputs = body, draft.inputs
    if existing is None:
        session.add(record)
    data: dict[str, Any] = {
        "environment": draft.environment,
        "project": draft.project,
        "identity": autonomy.actor_identity(actor),
        "inputs": draft.inputs,
        "outcome": outcome.value,
        "changes": [
            {"kind": c.kind, "name": c.name, "action": c.action}
            for c in draft.changes
            if c.action != "no-op"
        ],
        "monthly_delta": (draft.cost or {}).get("monthly_delta"),
        "verdicts": body["verdicts"],
    }
    if outcome == VerdictKind.NEEDS_APPROVAL:
        data["approval_request"] = _open_request(session, record, actor, verdicts, clock)
    audit.append(
        session,
        actor=actor.name,
        action="plan.created",
        subject=f"plan/{plan_digest}",
        data=data,
        clock=clock,
    )
    session.flush()
    return record


def get_plan(session: Session, plan_digest: str) -> PlanRecord:
    """Return a plan by digest, or raise NotFound."""
    record = session.get(PlanRecord, plan_digest)
    if record is None:
        raise NotFound(f"no plan with digest {plan_digest!r}")
    return record


def approvals_of(session: Session, record: PlanRecord) -> list[ApprovalRecord]:
    """Return the approvals recorded for a plan's current round, oldest first."""
    stmt = (
        select(ApprovalRecord)
        .where(ApprovalRecord.digest == record.digest, ApprovalRecord.round == record.round)
        .order_by(ApprovalRecord.at)
    )
    return list(session.scalars(stmt))


def record_approval(
    session: Session,
    record: PlanRecord,
    *,
    approver: Actor,
    approve: bool,
    reason: str,
    ids: IdFactory,
    clock: Clock,
) -> None:
    """Record a human's approval or rejection of a plan waiting for one.

    A plan of a human is decided by a platform engineer; a request of an agent by the
    humans of the agent's owner team (see ``approval_autonomy.may_approve``). Nobody
    decides on their own plan, and an expired request cannot be decided.
    """
    request = autonomy.request_of(session, record)
    env = identity.get_environment(session, record.environment)
    tier = "prod" if env.tier == "prod" or env.protected else env.tier
    refused = autonomy.may_approve(
        approver,
        record,
        request.team if request else "",
        tier,
        authorizer=authorizer_for(policy_sets(session)),
        plan_team=str(record.body.get("team") or ""),
    )
    if refused is not None:
        raise Forbidden(refused)
    if record.status not in ("needs_approval", "planned"):
        raise Conflict(f"plan {record.digest[:12]} is {record.status}: nothing to approve")
    if record.outcome != VerdictKind.NEEDS_APPROVAL.value:
        raise Conflict(
            f"plan {record.digest[:12]} does not need approval (outcome {record.outcome})"
        )
    if request is not None and autonomy.is_expired(request, clock.now()):
        expired_at = request.expires_at.isoformat() if request.expires_at else ""
        raise Conflict(
            f"the approval request of plan {record.digest[:12]} expired at {expired_at}; "
            f"{record.actor} has to plan again",
            extra={"expires_at": expired_at},
        )
    decision = "approve" if approve else "reject"
    session.add(
        ApprovalRecord(
            id=ids.new("apr"),
            digest=record.digest,
            round=record.round,
            approver=approver.name,
            decision=decision,
            reason=reason,
            at=clock.now(),
        )
    )
    record.status = "approved" if approve else "rejected"
    held = _reserve(session, record, ids=ids, clock=clock) if approve else []
    if not approve:
        reservations.release(session, plan_digest=record.digest)
    audit.append(
        session,
        actor=approver.name,
        action=f"plan.{'approved' if approve else 'rejected'}",
        subject=f"plan/{record.digest}",
        data={
            "reason": reason,
            "requested_by": record.actor,
            "routed_to": request.team if request else "",
            "approver": autonomy.actor_identity(approver),
            "reservations": [
                {"budget": r.budget, "amount": money(r.amount), "currency": r.currency}
                for r in held
            ],
        },
        clock=clock,
    )


def _reserve(
    session: Session, record: PlanRecord, *, ids: IdFactory, clock: Clock
) -> list[BudgetReservation]:
    """Hold what an approved plan adds in every budget it touches, until it is applied."""
    team = ""
    if record.project:
        team = identity.project_team(session, identity.get_project(session, record.project))
    return reserve_for_plan(
        session,
        environment=record.environment,
        project=record.project,
        team=team,
        cost=record.body.get("cost") or {},
        plan_digest=record.digest,
        ids=ids,
        clock=clock,
    )


def decide(
    session: Session, record: PlanRecord, *, actor: Actor, verdicts: list[Verdict], clock: Clock
) -> VerdictKind:
    """Combine verdicts and approvals into the decision, and append it to the audit chain."""
    outcome = combine(verdicts)
    approvals = approvals_of(session, record)
    approved = any(a.decision == "approve" for a in approvals)
    final = outcome
    if outcome == VerdictKind.NEEDS_APPROVAL and approved:
        final = VerdictKind.ALLOW
    data: dict[str, Any] = {
        "identity": autonomy.actor_identity(actor),
        "outcome": outcome.value,
        "decision": final.value,
        "verdicts": [v.as_dict() for v in verdicts],
        "approvals": [
            {"approver": a.approver, "decision": a.decision, "reason": a.reason} for a in approvals
        ],
    }
    if final == VerdictKind.NEEDS_APPROVAL and actor.name == record.actor:
        # Waiting for a human: the request is opened now if planning did not open it.
        data["approval_request"] = _open_request(session, record, actor, verdicts, clock)
    entry = audit.append(
        session,
        actor=actor.name,
        action="plan.decision",
        subject=f"plan/{record.digest}",
        data=data,
        clock=clock,
    )
    record.decided_by, record.decision_seq = actor.name, entry.seq
    if final != VerdictKind.DENY:
        # The verdicts the plan was applied (or is waiting) under; a denial of someone
        # else stays on the audit chain only.
        record.body = {**record.body, "verdicts": [v.as_dict() for v in verdicts]}
    return final


def _open_request(
    session: Session, record: PlanRecord, actor: Actor, verdicts: list[Verdict], clock: Clock
) -> dict[str, Any]:
    """Open the approval request of a plan (if its round has none); return its audit data."""
    why = reasons([v.as_dict() for v in verdicts], VerdictKind.NEEDS_APPROVAL.value)
    return autonomy.request_facts(
        autonomy.open_request(session, record, actor=actor, reasons=why, now=clock.now())
    )


def decision_ref(session: Session, record: PlanRecord) -> dict[str, Any]:
    """Return where a plan's decision stands on the audit chain: its seq and hash."""
    entry = audit.get_record(session, record.decision_seq or 0)
    return {"seq": record.decision_seq, "hash": entry.hash if entry else None}


def reasons(verdicts: list[dict[str, Any]], kind: str) -> list[str]:
    """Return the reasons of every verdict of one kind (``deny``, ``needs_approval``, ...)."""
    return [r for v in verdicts if v["verdict"] == kind for r in v["reasons"]]


def approval_item(
    session: Session, record: PlanRecord, *, now: datetime | None = None
) -> dict[str, Any]:
    """Return a plan as an approval request: why, who asked, routed to, until when, status."""
    plan = plan_as_dict(session, record)
    request = autonomy.request_of(session, record)
    keep = ("digest", "environment", "project", "actor", "created_at", "approvals", "cost")
    why = reasons(plan["verdicts"], "needs_approval") or (list(request.reasons) if request else [])
    return (
        {k: plan[k] for k in keep}
        | autonomy.request_as_dict(record, request, now or SystemClock().now())
        | {"reasons": why}
    )


def wait_status(
    session: Session, plan_digest: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Return where an approval request stands (what an agent polls or waits on)."""
    return approval_item(session, get_plan(session, plan_digest), now=now)


def list_plans(session: Session, *, limit: int, page_token: str | None) -> Page[PlanRecord]:
    """Return a page of plans."""
    return paginate(
        session, select(PlanRecord), PlanRecord.digest, limit=limit, page_token=page_token
    )


def list_pending(
    session: Session,
    *,
    limit: int,
    page_token: str | None,
    status: str = "pending",
    team: str | None = None,
    for_actor: Actor | None = None,
    now: datetime | None = None,
) -> Page[PlanRecord]:
    """Return approval requests: pending (default), approved, rejected, expired, applied, all.

    ``team`` keeps those routed to one team; ``for_actor`` keeps an agent's own requests,
    or the ones a human may decide on ("my approvals": routed to one of their teams, all
    for a platform engineer; never their own).
    """
    which = autonomy.RequestFilter(
        status=status, team=team, for_actor=for_actor, now=now or SystemClock().now()
    )
    return autonomy.list_requests(session, which, limit=limit, page_token=page_token)


def plan_as_dict(session: Session, record: PlanRecord) -> dict[str, Any]:
    """Return a plan as API data (effects stay internal)."""
    return {
        "digest": record.digest,
        "environment": record.environment,
        "project": record.project,
        "actor": record.actor,
        "created_at": record.created_at,
        "status": record.status,
        "outcome": record.outcome,
        "changes": record.body.get("changes", []),
        "verdicts": record.body.get("verdicts", []),
        "conflicts": record.body.get("conflicts", []),
        "violations": record.body.get("violations", []),
        "cost": record.body.get("cost") or {},
        "reservations": [
            {
                "budget": r.budget,
                "amount": money(r.amount),
                "currency": r.currency,
                "status": r.status,
                "expires_at": r.expires_at,
            }
            for r in reservations.of_plan(session, record.digest)
        ],
        "approvals": [
            {"approver": a.approver, "decision": a.decision, "reason": a.reason, "at": a.at}
            for a in approvals_of(session, record)
        ],
        "decision_seq": record.decision_seq,
        "applied_at": record.applied_at,
    }
