"""Table of the janitor: one case per workload it is cleaning up, open or closed.

A case follows one workload through the janitor's reversible sequence
(mark → notify → stop → delete). ``active_key`` is ``environment/project/workload``
while the case is open and NULL once it is closed, and is unique: a workload has
at most one open case, even when two janitor runs race.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plinth.capabilities.finops.models import MONEY
from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["CLOSED_STATUSES", "OPEN_STATUSES", "JanitorCase"]

OPEN_STATUSES = ("marked", "notified", "stopped")
CLOSED_STATUSES = ("deleted", "undone", "dismissed", "cleared", "rejected", "gone")


class JanitorCase(Base):
    """The janitor's sequence for one workload: where it is, when each step happened."""

    __tablename__ = "janitor_cases"
    __table_args__ = (Index("ix_janitor_cases_workload", "environment", "project", "workload"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment: Mapped[str] = mapped_column(String(63))
    project: Mapped[str] = mapped_column(String(63))
    workload: Mapped[str] = mapped_column(String(253))
    active_key: Mapped[str | None] = mapped_column(String(400), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    mark: Mapped[str] = mapped_column(Text, default="")
    team: Mapped[str] = mapped_column(String(63), default="")
    monthly_cost: Mapped[Decimal | None] = mapped_column(MONEY, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    pending_step: Mapped[str] = mapped_column(String(16), default="")
    pending_plan: Mapped[str] = mapped_column(String(64), default="")
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
