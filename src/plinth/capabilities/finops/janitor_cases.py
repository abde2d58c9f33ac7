"""The janitor's cases: open one per workload, move it step by step, close it.

Statuses: ``marking`` (the mark plan waits for an approval), ``marked``,
``notified``, ``stopped`` (open); ``deleted``, ``undone``, ``dismissed`` (the
owner removed the janitor's annotations), ``cleared`` (no longer a candidate),
``rejected`` (an approver refused a step), ``gone`` (deleted by someone else)
(closed). ``pending_step``/``pending_plan`` name a plan that waits for approval.
Services never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.estimate import money
from plinth.capabilities.finops.janitor import Candidate
from plinth.capabilities.finops.janitor_models import JanitorCase
from plinth.core.clock import Clock
from plinth.core.errors import NotFound
from plinth.core.ids import IdFactory

__all__ = [
    "OPEN",
    "SNOOZING",
    "CaseView",
    "active_cases",
    "close_case",
    "find_case",
    "last_closed",
    "open_case",
    "require_case",
    "snoozed_keys",
]

OPEN = ("marking", "marked", "notified", "stopped")
SNOOZING = ("undone", "dismissed", "rejected")


@dataclass(frozen=True)
class CaseView:
    """A detached, read-only copy of a case."""

    id: str
    environment: str
    project: str
    workload: str
    status: str
    team: str
    findings: tuple[dict[str, Any], ...]
    mark: str
    monthly_cost: Decimal | None
    currency: str
    pending_step: str
    pending_plan: str
    marked_at: datetime
    notified_at: datetime | None
    stopped_at: datetime | None
    closed_at: datetime | None
    closed_by: str

    @property
    def key(self) -> str:
        """Return ``environment/project/workload``."""
        return f"{self.environment}/{self.project}/{self.workload}"

    @classmethod
    def of(cls, row: JanitorCase) -> CaseView:
        """Copy a case row."""
        return cls(
            id=row.id,
            environment=row.environment,
            project=row.project,
            workload=row.workload,
            status=row.status,
            team=row.team,
            findings=tuple(row.findings or ()),
            mark=row.mark,
            monthly_cost=row.monthly_cost,
            currency=row.currency,
            pending_step=row.pending_step,
            pending_plan=row.pending_plan,
            marked_at=row.marked_at,
            notified_at=row.notified_at,
            stopped_at=row.stopped_at,
            closed_at=row.closed_at,
            closed_by=row.closed_by,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the case as JSON data."""
        return {
            "id": self.id,
            "status": self.status,
            "mark": self.mark,
            "findings": list(self.findings),
            "monthly_cost": None if self.monthly_cost is None else money(self.monthly_cost, 2),
            "currency": self.currency,
            "pending_step": self.pending_step or None,
            "pending_plan": self.pending_plan or None,
            "marked_at": self.marked_at,
            "notified_at": self.notified_at,
            "stopped_at": self.stopped_at,
            "closed_at": self.closed_at,
            "closed_by": self.closed_by or None,
        }


def open_case(
    session: Session,
    candidate: Candidate,
    *,
    mark: str,
    status: str,
    ids: IdFactory,
    clock: Clock,
) -> JanitorCase:
    """Open a case for a candidate (Conflict, via the store, when one is already open)."""
    now = clock.now()
    row = JanitorCase(
        id=ids.new("jan"),
        environment=candidate.environment,
        project=candidate.project,
        workload=candidate.workload,
        active_key=candidate.key,
        status=status,
        findings=[f.as_dict() for f in candidate.findings],
        mark=mark,
        team=candidate.team,
        monthly_cost=candidate.monthly_cost,
        currency=candidate.currency,
        pending_step="",
        pending_plan="",
        marked_at=now,
        notified_at=None,
        stopped_at=None,
        closed_at=None,
        closed_by="",
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def require_case(session: Session, case_id: str) -> JanitorCase:
    """Return a case by id, or raise NotFound."""
    row = session.get(JanitorCase, case_id)
    if row is None:
        raise NotFound(f"no janitor case {case_id!r}")
    return row


def find_case(session: Session, key: str) -> JanitorCase | None:
    """Return the open case of ``environment/project/workload``, or None."""
    return session.scalar(select(JanitorCase).where(JanitorCase.active_key == key))


def active_cases(session: Session) -> list[CaseView]:
    """Return every open case, oldest first."""
    stmt = select(JanitorCase).where(JanitorCase.active_key.is_not(None))
    return [CaseView.of(r) for r in session.scalars(stmt.order_by(JanitorCase.marked_at))]


def last_closed(
    session: Session, *, environment: str, project: str, workload: str
) -> CaseView | None:
    """Return the newest closed case of a workload, or None."""
    stmt = (
        select(JanitorCase)
        .where(
            JanitorCase.environment == environment,
            JanitorCase.project == project,
            JanitorCase.workload == workload,
            JanitorCase.active_key.is_(None),
        )
        .order_by(JanitorCase.closed_at.desc())
        .limit(1)
    )
    row = session.scalar(stmt)
    return CaseView.of(row) if row is not None else None


def snoozed_keys(session: Session, *, since: datetime) -> dict[str, datetime]:
    """Return the workloads whose case was undone, dismissed or rejected since ``since``."""
    stmt = select(JanitorCase).where(
        JanitorCase.status.in_(SNOOZING), JanitorCase.closed_at >= since
    )
    found: dict[str, datetime] = {}
    for row in session.scalars(stmt):
        key = f"{row.environment}/{row.project}/{row.workload}"
        if row.closed_at is not None and (key not in found or row.closed_at > found[key]):
            found[key] = row.closed_at
    return found


def close_case(row: JanitorCase, *, status: str, by: str, clock: Clock) -> None:
    """Close a case with its final status."""
    now = clock.now()
    row.status, row.closed_by, row.closed_at, row.updated_at = status, by, now, now
    row.active_key = None
    row.pending_step, row.pending_plan = "", ""
