"""Tables of the LLM gateway: virtual keys, spend per budget scope and period, requests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["LlmKey", "LlmRequest", "LlmSpend"]

MONEY = Numeric(24, 9, asdecimal=True)


class LlmKey(Base):
    """A virtual key: an opaque ``plk-`` token, stored as its SHA-256 digest only."""

    __tablename__ = "llm_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings: plk-abcd
    team: Mapped[str] = mapped_column(String(63), index=True)
    agent: Mapped[str] = mapped_column(String(100), default="")
    models: Mapped[list[Any]] = mapped_column(JSONType)  # empty: the team's allow-list
    budget: Mapped[Decimal | None] = mapped_column(MONEY, nullable=True)
    period: Mapped[str] = mapped_column(String(8), default="month")  # day | month
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LlmSpend(Base):
    """Settled spend of one budget scope (``team:<name>`` or ``key:<id>``) in one period."""

    __tablename__ = "llm_spend"
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)  # 2026-11 | 2026-11-29
    spent: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    requests: Mapped[int] = mapped_column(Integer, default=0)


class LlmRequest(Base):
    """One request through the gateway: who, which model, outcome, tokens, cost, screens."""

    __tablename__ = "llm_requests"
    __table_args__ = (Index("ix_llm_requests_team_at", "team", "at"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    team: Mapped[str] = mapped_column(String(63), default="")
    agent: Mapped[str] = mapped_column(String(100), default="")
    key_id: Mapped[str] = mapped_column(String(64), default="")
    endpoint: Mapped[str] = mapped_column(String(32))  # chat | embeddings
    model: Mapped[str] = mapped_column(String(200), default="")
    provider: Mapped[str] = mapped_column(String(63), default="")
    outcome: Mapped[str] = mapped_column(String(16))  # ok|cut|refused|blocked|budget|error
    status: Mapped[int] = mapped_column(Integer)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    redactions: Mapped[int] = mapped_column(Integer, default=0)
    screens: Mapped[dict[str, Any]] = mapped_column(JSONType)  # verdicts and finding counts
    latency_ms: Mapped[float] = mapped_column(Numeric(12, 3, asdecimal=False), default=0.0)
