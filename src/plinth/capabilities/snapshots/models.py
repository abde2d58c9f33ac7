"""The ``snapshots`` table: one row per snapshot or backup, whatever its kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, UTCDateTime

__all__ = ["KINDS", "STATUSES", "SnapshotRecord"]

KINDS = ("volume", "vm-disk", "postgres-backup")
STATUSES = ("creating", "ready", "failed", "restoring")


class SnapshotRecord(Base):
    """A copy of one resource's data: where it is, how big, who made it and why."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_resource", "environment", "project", "resource_name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(63))
    resource_name: Mapped[str] = mapped_column(String(253))
    environment: Mapped[str] = mapped_column(String(63))
    project: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    location: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
