"""Tables of desired and observed state: documents with history, resources, events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["DocumentRecord", "DocumentRevision", "ResourceEvent", "ResourceRecord"]


class DocumentRecord(Base):
    """The current version of one declarative document (the intent)."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("kind", "environment", "project", "name", "label"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(253))
    environment: Mapped[str] = mapped_column(String(63), default="")
    project: Mapped[str] = mapped_column(String(63), default="")
    label: Mapped[str] = mapped_column(String(63), default="")
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    digest: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(253), default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __mapper_args__ = {"version_id_col": version}


class DocumentRevision(Base):
    """One past or present version of a document, kept for history."""

    __tablename__ = "document_revisions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    digest: Mapped[str] = mapped_column(String(64), default="")
    actor: Mapped[str] = mapped_column(String(100))
    plan_digest: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ResourceRecord(Base):
    """One resource: desired spec (placeholders unresolved), observed state, status."""

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("environment", "project", "name"),
        Index("ix_resources_workload", "environment", "project", "workload"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment: Mapped[str] = mapped_column(String(63))
    project: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(253))
    type: Mapped[str] = mapped_column(String(63))
    provider: Mapped[str] = mapped_column(String(63))
    workload: Mapped[str] = mapped_column(String(253), default="")
    refs: Mapped[list[str]] = mapped_column(JSONType, default=list)
    desired: Mapped[dict[str, Any]] = mapped_column(JSONType)
    desired_digest: Mapped[str] = mapped_column(String(64))
    depends_on: Mapped[list[str]] = mapped_column(JSONType, default=list)
    deleting: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    sealed_outputs: Mapped[str] = mapped_column(Text, default="")
    applied_digest: Mapped[str] = mapped_column(String(64), default="")
    phase: Mapped[str] = mapped_column(String(32), default="pending")
    healthy: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    hourly_cost: Mapped[Decimal | None] = mapped_column(Numeric(24, 9), nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ResourceEvent(Base):
    """Something that happened to a resource: created, drift detected, repaired, failed."""

    __tablename__ = "resource_events"
    __table_args__ = (Index("ix_events_scope", "environment", "project", "workload"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_id: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(253))
    environment: Mapped[str] = mapped_column(String(63))
    project: Mapped[str] = mapped_column(String(63))
    workload: Mapped[str] = mapped_column(String(253), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
