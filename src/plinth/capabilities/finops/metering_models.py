"""Tables of metering: where each resource's cumulative counters were last read, and anomalies.

``MeteringCursor`` is the metering loop's memory across restarts: the last
cumulative CPU reading of each resource, committed in the same transaction as
the ledger rows it produced, so a restart never counts the same CPU twice.
``CostAnomaly`` is the event feed of spend anomalies, one row per team and day.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plinth.capabilities.finops.models import MONEY
from plinth.infrastructure.store.db import Base, UTCDateTime

__all__ = ["CostAnomaly", "MeteringCursor"]


class MeteringCursor(Base):
    """The last cumulative usage reading of one resource that reached the ledger."""

    __tablename__ = "metering_cursors"
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CostAnomaly(Base):
    """A day on which a team spent well above its own baseline: an event for that team."""

    __tablename__ = "cost_anomalies"
    __table_args__ = (UniqueConstraint("team", "day"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(String(63), index=True)
    day: Mapped[datetime] = mapped_column(UTCDateTime())
    spend: Mapped[Decimal] = mapped_column(MONEY)
    baseline_mean: Mapped[Decimal] = mapped_column(MONEY)
    baseline_stddev: Mapped[Decimal] = mapped_column(MONEY)
    threshold: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    message: Mapped[str] = mapped_column(Text, default="")
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
