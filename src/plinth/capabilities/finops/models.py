"""Tables of FinOps: the cost ledger and budget reservations.

The ledger holds one row per (usage sample or bill line, dimension): what was
used, at which unit price, for what cost, attributed to whom. Reports, FOCUS
exports, anomaly detection and the janitor all read it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["BudgetReservation", "CommittedCost", "CostEntry"]

MONEY = Numeric(24, 9, asdecimal=True)


class CostEntry(Base):
    """One attributed cost: usage (or a billed amount) of one dimension over one period."""

    __tablename__ = "cost_entries"
    __table_args__ = (
        Index("ix_cost_team_at", "team", "at"),
        Index("ix_cost_resource_at", "resource_id", "at"),
        Index("ix_cost_source_at", "source", "at"),
        Index("ix_cost_resource_name", "resource_name", "dimension"),
    )
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    period_s: Mapped[float] = mapped_column(Float, default=0.0)
    source: Mapped[str] = mapped_column(String(16))  # meter | billing | estimate
    resource_id: Mapped[str] = mapped_column(String(64), default="")
    resource_name: Mapped[str] = mapped_column(String(253), default="")
    resource_type: Mapped[str] = mapped_column(String(63), default="")
    provider: Mapped[str] = mapped_column(String(63), default="")
    region: Mapped[str] = mapped_column(String(63), default="")
    environment: Mapped[str] = mapped_column(String(63), default="")
    project: Mapped[str] = mapped_column(String(63), default="")
    team: Mapped[str] = mapped_column(String(63), default="")
    agent: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    sku: Mapped[str] = mapped_column(String(200), default="")
    dimension: Mapped[str] = mapped_column(String(63))
    quantity: Mapped[Decimal] = mapped_column(MONEY)
    unit: Mapped[str] = mapped_column(String(32))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    cost: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BudgetReservation(Base):
    """Spend a plan holds against a budget between its approval and its apply."""

    __tablename__ = "budget_reservations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    budget: Mapped[str] = mapped_column(String(253), index=True)
    plan_digest: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    status: Mapped[str] = mapped_column(String(16))  # held | committed | released
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CommittedCost(Base):
    """The hourly cost of the resources applied in one environment and project.

    Kept up to date by the applier (each resource's planned hourly cost in, its
    release out), so a budget's committed spend is a sum over a few rows instead
    of an estimate of every resource in its scope.
    """

    __tablename__ = "committed_costs"
    environment: Mapped[str] = mapped_column(String(63), primary_key=True)
    project: Mapped[str] = mapped_column(String(63), primary_key=True)
    hourly: Mapped[Decimal] = mapped_column(MONEY)
