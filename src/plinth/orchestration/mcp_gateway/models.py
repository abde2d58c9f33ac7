"""Tables of the MCP gateway: held tool calls waiting for a human, and daily usage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["GatewayUsage", "ToolCallApproval"]


class ToolCallApproval(Base):
    """A tool call held for a human, bound to the exact arguments (their digest)."""

    __tablename__ = "gateway_tool_approvals"
    __table_args__ = (Index("ix_gateway_tool_approvals_call", "agent", "tool", "args_digest"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(100))
    team: Mapped[str] = mapped_column(String(63), default="")
    tool: Mapped[str] = mapped_column(String(300))  # server/tool
    args_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending|approved|denied|used
    reasons: Mapped[list[Any]] = mapped_column(JSONType)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class GatewayUsage(Base):
    """Tool calls and their cost per agent per UTC day (the daily budget survives restarts)."""

    __tablename__ = "gateway_usage"
    agent: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(Numeric(24, 9), default=Decimal(0))
