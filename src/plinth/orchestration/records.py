"""Tables of the one path: plans (with their decisions), approval requests and approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["ApprovalRecord", "ApprovalRequestRecord", "PlanRecord"]


class PlanRecord(Base):
    """A stored plan: changes, gate verdicts, the inputs it was made from, its status."""

    __tablename__ = "plans"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment: Mapped[str] = mapped_column(String(63), index=True)
    project: Mapped[str] = mapped_column(String(63))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    decided_by: Mapped[str] = mapped_column(String(100), default="")
    decision_seq: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), nullable=True
    )
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ApprovalRecord(Base):
    """A human's approval or rejection of a plan that needed one."""

    __tablename__ = "approvals"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    approver: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApprovalRequestRecord(Base):
    """A plan that waits for a human: who asked, why, who it is routed to and until when.

    One row per plan (the digest is the request's id), reset when the same plan is made
    again in a new round. ``team`` is the owner team of the agent that asked (its humans
    decide); it is empty for plans of humans and of the built-in janitor, which platform
    engineers decide as before. Plans of humans never expire (``expires_at`` is None).
    The request's status is derived from the plan's status and the time (see
    ``orchestration.autonomy.request_status``).
    """

    __tablename__ = "approval_requests"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    requested_by: Mapped[str] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(63), index=True, default="")
    reasons: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
