"""A small organisation, workloads, prices and metered usage, written straight into a store.

The janitor and right-sizing capabilities only read the store, so their tests
build exactly the rows they need: ledger rows shaped as metering writes them
(``quantity`` = max(requested, used), ``extra.used`` / ``extra.requested``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import FrozenClock
from plinth.core.ids import IdFactory

__all__ = ["VCPU_HOUR", "meter", "organisation", "price_local", "workload"]

VCPU_HOUR = Decimal("0.03")
GIB_HOUR = Decimal("0.004")


def organisation(session: Session, *, ids: IdFactory, clock: FrozenClock) -> None:
    """Create team payments, project checkout and environment dev (region local)."""
    identity.upsert_team(session, name="payments", description="", ids=ids, clock=clock)
    identity.upsert_project(
        session, name="checkout", team="payments", description="", ids=ids, clock=clock
    )
    identity.upsert_environment(
        session,
        name="dev",
        tier="dev",
        protected=False,
        region="local",
        description="",
        ids=ids,
        clock=clock,
    )


def price_local(
    session: Session,
    *,
    ids: IdFactory,
    clock: FrozenClock,
    provider: str = "local",
    price_type: str = "on_prem",
) -> None:
    """Store a PriceBook document with rates for ``provider`` in region local."""
    rates = [
        ["compute.vcpu", "vcpu-hour", str(VCPU_HOUR)],
        ["compute.memory", "gib-hour", str(GIB_HOUR)],
    ]
    body = {
        "apiVersion": "plinth.dev/v1",
        "kind": "PriceBook",
        "metadata": {"name": f"{provider}-rates"},
        "spec": {
            "currency": "USD",
            "rates": [
                {
                    "sku": sku,
                    "provider": provider,
                    "region": "local",
                    "price_type": price_type,
                    "unit": unit,
                    "amount": amount,
                }
                for sku, unit, amount in rates
            ],
        },
    }
    inventory.put_document(
        session,
        kind="PriceBook",
        name=f"{provider}-rates",
        body=body,
        actor="test",
        plan_digest="",
        ids=ids,
        clock=clock,
    )


def workload(
    session: Session,
    name: str,
    *,
    ids: IdFactory,
    clock: FrozenClock,
    cpu: str | None = "500m",
    memory: str | None = "256Mi",
    annotations: dict[str, str] | None = None,
    owner: str = "",
    project: str = "checkout",
    type_name: str = "service",
    provider: str = "local",
    containers: int = 1,
) -> ResourceRecord:
    """Store a Score workload document and its own ``service`` (or ``job``) resource."""
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    body = {
        "apiVersion": "score.dev/v1b1",
        "metadata": metadata,
        "containers": {f"c{i}": {"image": "py:app"} for i in range(containers)},
    }
    inventory.put_document(
        session,
        kind="Workload",
        name=name,
        body=body,
        actor="ada",
        plan_digest="",
        ids=ids,
        clock=clock,
        environment="dev",
        project=project,
        owner=owner,
    )
    spec = {
        "containers": {f"c{i}": {"image": "py:app"} for i in range(containers)},
        "resources": {"cpu": cpu, "memory": memory},
    }
    return inventory.put_desired(
        session,
        environment="dev",
        project=project,
        name=name,
        type=type_name,
        provider=provider,
        workload=name,
        spec=spec,
        depends_on=[],
        refs=[name],
        ids=ids,
        clock=clock,
    )


def meter(
    session: Session,
    resource: ResourceRecord,
    *,
    start: datetime,
    hours: int,
    cpu: list[float] | float,
    requested_cpu: float | None = 0.5,
    memory_gib: list[float] | float | None = None,
    requested_gib: float | None = None,
) -> None:
    """Write one hourly ``meter`` row per dimension, as metering would, from ``start``."""
    for hour in range(hours):
        at = start + timedelta(hours=hour)
        used = cpu[hour % len(cpu)] if isinstance(cpu, list) else cpu
        session.add(_row(resource, at, "cpu", "vcpu-hour", used, requested_cpu, VCPU_HOUR))
        if memory_gib is not None:
            level = (
                memory_gib[hour % len(memory_gib)] if isinstance(memory_gib, list) else memory_gib
            )
            session.add(_row(resource, at, "memory", "gib-hour", level, requested_gib, GIB_HOUR))
    session.flush()


def _row(
    resource: ResourceRecord,
    at: datetime,
    dimension: str,
    unit: str,
    used: float,
    requested: float | None,
    price: Decimal,
) -> CostEntry:
    used_d = Decimal(repr(used))
    extra: dict[str, Any] = {}
    charged = used_d
    if requested is not None:
        requested_d = Decimal(repr(requested))
        charged = max(used_d, requested_d)
        extra = {"used": format(used_d, "f"), "requested": format(requested_d, "f")}
    return CostEntry(
        at=at,
        period_s=3600.0,
        source="meter",
        resource_id=resource.id,
        resource_name=resource.name,
        resource_type=resource.type,
        provider=resource.provider,
        region="local",
        environment=resource.environment,
        project=resource.project,
        team="payments",
        dimension=dimension,
        quantity=charged,
        unit=unit,
        unit_price=price,
        cost=charged * price,
        currency="USD",
        extra=extra,
        ingested_at=at,
    )
