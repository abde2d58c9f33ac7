"""Tool calls held for a human: request, approve or deny, and pass exactly once.

A call that Cedar answers with ``needs_approval`` is held: a request bound to the agent,
the tool and the digest of the arguments is stored with an expiry. After a human of the
agent's owning team (or a platform engineer) approves it, the agent repeats the same call
with the same arguments and it passes once; any other arguments are a different call.
Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, Forbidden, NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.pagination import Page, paginate
from plinth.orchestration.mcp_gateway.models import ToolCallApproval

__all__ = ["approval_as_dict", "decide", "hold", "list_approvals"]

_APPROVER_ROLES = ("developer", "ml-engineer", "release-manager", "platform-engineer")


def _status(row: ToolCallApproval, clock: Clock) -> str:
    if row.status in ("pending", "approved") and clock.now() >= row.expires_at:
        return "expired"
    return row.status


def hold(
    session: Session,
    *,
    agent: str,
    team: str,
    tool: str,
    args_digest: str,
    reasons: list[str],
    ttl_seconds: int,
    ids: IdFactory,
    clock: Clock,
) -> tuple[str, ToolCallApproval]:
    """Consume a matching approval ("approved"), or return the pending request ("pending")."""
    now = clock.now()
    rows = session.scalars(
        select(ToolCallApproval)
        .where(
            ToolCallApproval.agent == agent,
            ToolCallApproval.tool == tool,
            ToolCallApproval.args_digest == args_digest,
            ToolCallApproval.status.in_(("pending", "approved")),
            ToolCallApproval.expires_at > now,
        )
        .order_by(ToolCallApproval.requested_at)
        .with_for_update()
    ).all()
    for row in rows:
        if row.status == "approved":
            row.status, row.used_at = "used", now
            session.flush()
            return "approved", row
    if rows:
        return "pending", rows[0]
    row = ToolCallApproval(
        id=ids.new("tca"),
        agent=agent,
        team=team,
        tool=tool,
        args_digest=args_digest,
        status="pending",
        reasons=list(reasons),
        requested_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
        decided_by="",
        decided_at=None,
        decision_reason="",
        used_at=None,
    )
    session.add(row)
    audit.append(
        session,
        actor=agent,
        action="gateway.approval_requested",
        subject=f"tool/{tool}",
        data={"approval": row.id, "args_digest": args_digest, "reasons": reasons, "team": team},
        clock=clock,
    )
    session.flush()
    return "pending", row


def _may_approve(approver: Actor, row: ToolCallApproval) -> bool:
    if approver.kind == "agent" or approver.name == row.agent:
        return False
    return any(approver.has_role(role, team=row.team or None) for role in _APPROVER_ROLES)


def decide(
    session: Session,
    approval_id: str,
    *,
    approver: Actor,
    approve: bool,
    reason: str,
    clock: Clock,
) -> ToolCallApproval:
    """Approve or deny a held tool call (humans of the agent's team or platform engineers)."""
    row = session.get(ToolCallApproval, approval_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no held tool call {approval_id!r}")
    if not _may_approve(approver, row):
        raise Forbidden(
            f"{approver.name} may not decide tool calls of agent {row.agent}: only humans of "
            f"team {row.team or '(none)'} or platform engineers may"
        )
    status = _status(row, clock)
    if status != "pending":
        raise Conflict(f"the held tool call {approval_id} is {status}, not pending")
    row.status = "approved" if approve else "denied"
    row.decided_by, row.decided_at, row.decision_reason = approver.name, clock.now(), reason
    audit.append(
        session,
        actor=approver.name,
        action="gateway.approval_decided",
        subject=f"tool/{row.tool}",
        data={"approval": row.id, "agent": row.agent, "outcome": row.status, "reason": reason},
        clock=clock,
    )
    session.flush()
    return row


def list_approvals(
    session: Session,
    *,
    status: str | None = None,
    agent: str | None = None,
    limit: int = 50,
    page_token: str | None = None,
) -> Page[ToolCallApproval]:
    """Return a page of held tool calls, optionally by stored status or agent."""
    stmt = select(ToolCallApproval)
    if status is not None:
        stmt = stmt.where(ToolCallApproval.status == status)
    if agent is not None:
        stmt = stmt.where(ToolCallApproval.agent == agent)
    return paginate(session, stmt, ToolCallApproval.id, limit=limit, page_token=page_token)


def approval_as_dict(row: ToolCallApproval, clock: Clock) -> dict[str, Any]:
    """Return a held tool call as API data."""
    return {
        "id": row.id,
        "agent": row.agent,
        "team": row.team,
        "tool": row.tool,
        "args_digest": row.args_digest,
        "status": _status(row, clock),
        "reasons": row.reasons,
        "requested_at": row.requested_at,
        "expires_at": row.expires_at,
        "decided_by": row.decided_by or None,
        "decided_at": row.decided_at,
        "reason": row.decision_reason or None,
        "used_at": row.used_at,
    }
