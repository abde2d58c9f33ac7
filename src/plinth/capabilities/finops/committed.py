"""Committed spend: the hourly cost of what is applied, per environment and project."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.estimate import estimate_resource, pricing_for
from plinth.capabilities.finops.models import CommittedCost
from plinth.capabilities.finops.pricebook import current_pricebook
from plinth.capabilities.identity.models import EnvironmentRow
from plinth.capabilities.inventory.models import ResourceRecord

__all__ = ["adjust", "committed_hourly", "rebuild"]


def adjust(session: Session, *, environment: str, project: str, delta: Decimal) -> None:
    """Add ``delta`` (may be negative) to the committed hourly cost of a scope."""
    if not delta:
        return
    row = session.get(CommittedCost, (environment, project), with_for_update=True)
    if row is None:
        session.add(CommittedCost(environment=environment, project=project, hourly=delta))
    else:
        row.hourly = Decimal(row.hourly) + delta
    session.flush()


def committed_hourly(
    session: Session, *, environment: str | None = None, projects: list[str] | None = None
) -> Decimal:
    """Return the committed hourly cost of an environment, or of a set of projects."""
    stmt = select(func.coalesce(func.sum(CommittedCost.hourly), 0))
    if environment is not None:
        stmt = stmt.where(CommittedCost.environment == environment)
    if projects is not None:
        stmt = stmt.where(CommittedCost.project.in_(projects))
    return Decimal(str(session.scalar(stmt) or 0))


def rebuild(session: Session) -> None:
    """Recompute every scope from the resources (pricing those applied before costs were kept)."""
    stmt = select(ResourceRecord).where(ResourceRecord.hourly_cost.is_(None))
    unpriced = list(session.scalars(stmt))
    if unpriced:
        book = current_pricebook(session)
        rows = session.execute(select(EnvironmentRow.name, EnvironmentRow.region)).all()
        regions = {str(name): str(region) for name, region in rows}
        for row in unpriced:
            pricing = pricing_for(provider=row.provider, region=regions.get(row.environment, ""))
            estimate = estimate_resource(book, type=row.type, spec=row.desired, pricing=pricing)
            row.hourly_cost = estimate.hourly
    session.flush()
    session.execute(delete(CommittedCost))
    totals = session.execute(
        select(
            ResourceRecord.environment, ResourceRecord.project, func.sum(ResourceRecord.hourly_cost)
        )
        .where(ResourceRecord.deleting.is_(False))
        .group_by(ResourceRecord.environment, ResourceRecord.project)
    )
    for environment, project, hourly in totals:
        session.add(
            CommittedCost(
                environment=environment, project=project, hourly=Decimal(str(hourly or 0))
            )
        )
    session.flush()
