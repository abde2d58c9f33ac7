"""The compliance findings table: one row per (pack, rule, environment, project, resource)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, UTCDateTime

__all__ = ["FINDING_STATES", "ComplianceFinding"]

FINDING_STATES = ("open", "acknowledged", "excepted", "resolved")


class ComplianceFinding(Base):
    """A policy result on a live resource, with its owner, state and remediation."""

    __tablename__ = "compliance_findings"
    __table_args__ = (
        Index("ix_compliance_findings_scope", "team", "environment"),
        Index("ix_compliance_findings_state", "state"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    pack: Mapped[str] = mapped_column(String(253))
    pack_version: Mapped[str] = mapped_column(String(63), default="")
    rule: Mapped[str] = mapped_column(String(253))
    severity: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    fix: Mapped[str] = mapped_column(Text, default="")
    resource: Mapped[str] = mapped_column(String(253))
    environment: Mapped[str] = mapped_column(String(63))
    project: Mapped[str] = mapped_column(String(63))
    team: Mapped[str] = mapped_column(String(63), default="")
    state: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    remediation: Mapped[str] = mapped_column(String(32), default="")
    remediation_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    remediated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    remediation_detail: Mapped[str] = mapped_column(Text, default="")
    exception: Mapped[str] = mapped_column(String(253), default="")
    exception_expires: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
