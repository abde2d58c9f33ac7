"""Budget reservations: spend an approved plan holds until it is applied.

Lifecycle: ``held`` (at approval) → ``committed`` (at apply: the resources are
then desired state and counted as committed spend) or ``released`` (on
rejection, or a new round of the same plan). A held reservation past its
``expires_at`` no longer counts, so an approved plan nobody applies does not
block a budget forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from plinth.capabilities.finops.models import BudgetReservation
from plinth.core.clock import Clock
from plinth.core.ids import IdFactory

__all__ = [
    "RESERVATION_TTL",
    "commit",
    "held_amount",
    "held_for_plan",
    "hold",
    "of_plan",
    "release",
]

RESERVATION_TTL = timedelta(hours=24)


def hold(
    session: Session,
    *,
    budget: str,
    plan_digest: str,
    amount: Decimal,
    currency: str,
    ids: IdFactory,
    clock: Clock,
    ttl: timedelta = RESERVATION_TTL,
) -> BudgetReservation:
    """Hold ``amount`` of ``budget`` for a plan (replacing a hold it already has)."""
    release(session, plan_digest=plan_digest, budget=budget)
    now = clock.now()
    row = BudgetReservation(
        id=ids.new("rsv"),
        budget=budget,
        plan_digest=plan_digest,
        amount=amount,
        currency=currency,
        status="held",
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    return row


def held_amount(session: Session, *, budget: str, now: datetime, exclude_plan: str = "") -> Decimal:
    """Return the sum of unexpired held reservations of a budget (except one plan's)."""
    stmt = select(func.coalesce(func.sum(BudgetReservation.amount), 0)).where(
        BudgetReservation.budget == budget,
        BudgetReservation.status == "held",
        (BudgetReservation.expires_at.is_(None)) | (BudgetReservation.expires_at > now),
    )
    if exclude_plan:
        stmt = stmt.where(BudgetReservation.plan_digest != exclude_plan)
    return Decimal(session.scalar(stmt) or 0)


def held_for_plan(session: Session, plan_digest: str) -> list[BudgetReservation]:
    """Return a plan's held reservations."""
    stmt = select(BudgetReservation).where(
        BudgetReservation.plan_digest == plan_digest, BudgetReservation.status == "held"
    )
    return list(session.scalars(stmt.order_by(BudgetReservation.budget)))


def of_plan(session: Session, plan_digest: str) -> list[BudgetReservation]:
    """Return every reservation of a plan (any status), newest first."""
    stmt = select(BudgetReservation).where(BudgetReservation.plan_digest == plan_digest)
    return list(
        session.scalars(
            stmt.order_by(BudgetReservation.created_at.desc(), BudgetReservation.budget)
        )
    )


def _set_status(session: Session, plan_digest: str, status: str, budget: str | None) -> int:
    stmt = update(BudgetReservation).where(
        BudgetReservation.plan_digest == plan_digest, BudgetReservation.status == "held"
    )
    if budget is not None:
        stmt = stmt.where(BudgetReservation.budget == budget)
    result = session.execute(stmt.values(status=status))
    return int(getattr(result, "rowcount", 0) or 0)


def commit(session: Session, *, plan_digest: str) -> int:
    """Mark a plan's held reservations committed (it was applied); return how many."""
    return _set_status(session, plan_digest, "committed", None)


def release(session: Session, *, plan_digest: str, budget: str | None = None) -> int:
    """Release a plan's held reservations (rejected, or re-planned); return how many."""
    return _set_status(session, plan_digest, "released", budget)
