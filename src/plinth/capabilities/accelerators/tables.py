"""Tables of accelerator scheduling: queued and running requests, held devices, one lock row.

A request row exists from the moment a resource asks for accelerators until it is
deleted. ``status`` is ``pending`` (queued), ``running`` (holds devices) or
``stopping`` (preempted: it must checkpoint and stop by ``stop_deadline``).
Every change to these tables happens after locking the single ``accelerator_lock``
row, so two control-plane replicas never hand out the same device.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from plinth.infrastructure.store.db import Base, UTCDateTime

__all__ = ["AcceleratorLock", "AllocationRow", "RequestRow"]


class AcceleratorLock(Base):
    """The one row locked by every allocation change (``version`` counts them)."""

    __tablename__ = "accelerator_lock"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class RequestRow(Base):
    """A resource's request for accelerators and where it stands."""

    __tablename__ = "accelerator_requests"
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team: Mapped[str] = mapped_column(String(63), index=True)
    accelerator: Mapped[str] = mapped_column(String(63))
    milli: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    nodes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    partition: Mapped[str | None] = mapped_column(String(32), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    estimate_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stop_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    preempted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attained_s: Mapped[float] = mapped_column(Float, default=0.0)
    borrowed: Mapped[bool] = mapped_column(Boolean, default=False)


class AllocationRow(Base):
    """One device (or share of one, or MIG slices) of one node held by a request."""

    __tablename__ = "accelerator_allocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_id: Mapped[str] = mapped_column(
        ForeignKey("accelerator_requests.resource_id", ondelete="CASCADE"), index=True
    )
    node: Mapped[str] = mapped_column(String(63), index=True)
    device: Mapped[int | None] = mapped_column(Integer, nullable=True)
    milli: Mapped[int] = mapped_column(Integer, default=1000)
    profile: Mapped[str | None] = mapped_column(String(32), nullable=True)
    slots: Mapped[int] = mapped_column(Integer, default=0)
