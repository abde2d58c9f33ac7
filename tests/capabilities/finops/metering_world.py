"""A small organisation, local on-prem rates and resources, for the metering and ledger tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.finops.pricebook import PriceBook, Rate, default_pricebook
from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.core.clock import Clock
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.db import Database

__all__ = [
    "CPU_HOUR",
    "GIB_HOUR",
    "add_entry",
    "add_resource",
    "count_rows",
    "ledger_rows",
    "local_book",
    "seed_org",
]

CPU_HOUR = Decimal("0.036")  # per vCPU-hour: 0.00001 per vCPU-second
GIB_HOUR = Decimal("0.0036")  # per GiB-hour
_LOCAL = (
    ("compute.vcpu", "vcpu-hour", CPU_HOUR),
    ("compute.memory", "gib-hour", GIB_HOUR),
    ("storage.block", "gib-month", Decimal("0.05")),
    ("database.postgres", "instance-hour", Decimal("0.01")),
    ("database.storage", "gib-month", Decimal("0.08")),
)


def local_book() -> PriceBook:
    """Return the default book plus on-prem rates for the local provider."""
    rates = [
        Rate(sku, "local", "local", "on_prem", unit, amount, "USD", "test rates, 2026-11")
        for sku, unit, amount in _LOCAL
    ]
    return default_pricebook().with_overrides(rates)


def seed_org(session: Session, *, ids: IdFactory, clock: Clock) -> None:
    """Create teams payments and ml-research, their projects, and environments dev and prod."""
    for team in ("payments", "ml-research"):
        identity.upsert_team(session, name=team, description="", ids=ids, clock=clock)
    session.flush()
    for project, team in (("checkout", "payments"), ("recommender", "ml-research")):
        identity.upsert_project(
            session, name=project, team=team, description="", ids=ids, clock=clock
        )
    for env in ("dev", "prod"):
        identity.upsert_environment(
            session,
            name=env,
            tier=env,
            protected=env == "prod",
            region="local",
            description="",
            ids=ids,
            clock=clock,
        )
    session.flush()


def add_resource(
    session: Session,
    *,
    name: str,
    project: str = "checkout",
    environment: str = "dev",
    type: str = "service",
    cpu: str | None = "500m",
    memory: str | None = "256Mi",
    phase: str = "running",
    ids: IdFactory,
    clock: Clock,
) -> str:
    """Record a resource with requested cpu and memory; return its id."""
    spec: dict[str, Any] = {"containers": {"main": {"image": "py:plinth_demo.webapp"}}}
    if cpu or memory:
        spec["resources"] = {"cpu": cpu, "memory": memory}
    record = inventory.put_desired(
        session,
        environment=environment,
        project=project,
        name=name,
        type=type,
        provider="local",
        workload=name,
        spec=spec,
        depends_on=[],
        refs=[name],
        ids=ids,
        clock=clock,
    )
    record.phase = phase
    session.flush()
    return record.id


def add_entry(
    session: Session,
    *,
    at: datetime,
    cost: str,
    team: str = "",
    currency: str = "USD",
    **columns: Any,
) -> None:
    """Write one ledger row with a given cost (for report and anomaly tests)."""
    session.add(
        CostEntry(
            at=at,
            period_s=3600.0,
            source=columns.pop("source", "meter"),
            team=team,
            dimension=columns.pop("dimension", "cpu"),
            quantity=Decimal(1),
            unit="vcpu-hour",
            unit_price=Decimal(cost),
            cost=Decimal(cost),
            currency=currency,
            extra={},
            ingested_at=at + timedelta(seconds=1),
            **columns,
        )
    )


def ledger_rows(db: Database) -> list[CostEntry]:
    """Return every ledger row, oldest first."""
    with db.read() as session:
        rows = list(session.scalars(select(CostEntry).order_by(CostEntry.at, CostEntry.id)))
        session.expunge_all()  # keep them loaded after the read transaction ends
        return rows


def count_rows(db: Database) -> int:
    """Return the number of ledger rows."""
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(CostEntry)) or 0)
