"""Tables of the events outbox: events, webhook subscriptions and their deliveries.

An event row is written in the same transaction as the audit record it reports
(no dual write); the dispatcher later fans it out to one delivery per matching
target (a webhook subscription, or ``broker`` when a broker is configured).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, JSONType, UTCDateTime

__all__ = ["EventDelivery", "OutboxEvent", "WebhookSubscription"]

_BIG = BigInteger().with_variant(Integer, "sqlite")


class OutboxEvent(Base):
    """One CloudEvent waiting to be (or already) fanned out; ``seq`` orders them."""

    __tablename__ = "outbox_events"
    seq: Mapped[int] = mapped_column(_BIG, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    traceparent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class WebhookSubscription(Base):
    """A URL that receives the events whose type matches one of ``types``."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    types: Mapped[list[str]] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(Text)  # sealed with the platform's SecretBox
    description: Mapped[str] = mapped_column(String(500))
    max_attempts: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventDelivery(Base):
    """One event to one target: pending, delivered or failed (the dead letter)."""

    __tablename__ = "event_deliveries"
    __table_args__ = (Index("ix_event_deliveries_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(_BIG, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(64), index=True)
    event_seq: Mapped[int] = mapped_column(_BIG)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
