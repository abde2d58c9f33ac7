"""Right-sizing: CPU and memory requests recommended from what each workload really used.

The rule (defaults in :class:`RightsizingPolicy`, all configurable):

- **Usage history**: the ledger's ``meter`` rows of the workload's own service
  or job over the last ``window`` (14 days). Each row is one sample: its level
  is what was used over the sample's period divided by the period (vCPUs for
  ``cpu``, bytes for ``memory``; ``extra.used`` as metering writes it, else the
  row's quantity). At least ``min_samples`` (24) are needed.
- **Percentile**: p95 of the CPU levels and p99 of the memory levels (nearest
  rank). Memory uses a higher percentile because running out of it kills the
  process, while running out of CPU only slows it down.
- **Safety margin**: the percentile plus ``margin`` (20 %), rounded up to a step
  (10m CPU, 16Mi memory) and never below the floor (``cpu_floor`` 50m,
  ``memory_floor`` 64Mi).
- **Noise**: a change of less than ``min_change`` (10 %) of the current request
  is not worth a deploy and is not recommended.
- **Savings**: the monthly estimate (``finops.estimate``, current price book) of
  the resource as it is minus the estimate with the recommended request;
  negative when the workload needs more than it asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.estimate import estimate_resource, money, pricing_for
from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.finops.pricebook import PriceBook, current_pricebook
from plinth.capabilities.identity.models import EnvironmentRow, ProjectRow, TeamRow
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.core.errors import InvalidInput
from plinth.core.quantities import format_quantity, parse_quantity

__all__ = ["Recommendation", "RightsizingPolicy", "percentile", "recommend", "recommended_level"]

GIB = 1024**3
MIB = Decimal(1024**2)
_DIMENSIONS = ("cpu", "memory")


@dataclass(frozen=True)
class RightsizingPolicy:
    """Percentiles, margin, floors and steps of right-sizing (see the module docs)."""

    window: timedelta = timedelta(days=14)
    cpu_percentile: int = 95
    memory_percentile: int = 99
    margin: Decimal = Decimal("0.20")
    cpu_floor: Decimal = Decimal("0.05")
    memory_floor: Decimal = 64 * MIB
    cpu_step: Decimal = Decimal("0.01")
    memory_step: Decimal = 16 * MIB
    min_samples: int = 24
    min_change: Decimal = Decimal("0.10")

    def __post_init__(self) -> None:
        for p in (self.cpu_percentile, self.memory_percentile):
            if not 1 <= p <= 100:
                raise InvalidInput(f"a percentile must be between 1 and 100, not {p}")
        if self.margin < 0 or self.min_change < 0 or self.min_samples < 1:
            raise InvalidInput("margin and min_change must be >= 0 and min_samples >= 1")
        if min(self.cpu_floor, self.memory_floor, self.cpu_step, self.memory_step) <= 0:
            raise InvalidInput("floors and steps must be more than 0")

    def as_dict(self) -> dict[str, Any]:
        """Return the policy as JSON data."""
        return {
            "window_days": self.window.total_seconds() / 86400,
            "cpu_percentile": self.cpu_percentile,
            "memory_percentile": self.memory_percentile,
            "margin": str(self.margin),
            "cpu_floor": format_quantity(self.cpu_floor),
            "memory_floor": format_quantity(self.memory_floor, binary=True),
            "min_samples": self.min_samples,
            "min_change": str(self.min_change),
        }


@dataclass(frozen=True)
class Recommendation:
    """A new request for one dimension of one workload, and what it saves per month."""

    workload: str
    resource: str
    environment: str
    project: str
    team: str
    application: str
    dimension: str
    current: str | None
    recommended: str
    observed: str
    percentile: int
    samples: int
    monthly_savings: Decimal
    currency: str
    how: str

    def as_dict(self) -> dict[str, Any]:
        """Return the recommendation as JSON data."""
        return {
            "workload": self.workload,
            "resource": self.resource,
            "environment": self.environment,
            "project": self.project,
            "team": self.team,
            "application": self.application,
            "dimension": self.dimension,
            "current": self.current,
            "recommended": self.recommended,
            "observed": self.observed,
            "percentile": self.percentile,
            "samples": self.samples,
            "direction": "down" if self.monthly_savings >= 0 else "up",
            "monthly_savings": money(self.monthly_savings, 2),
            "currency": self.currency,
            "how": self.how,
        }


def percentile(values: list[float], p: int) -> float:
    """Return the nearest-rank ``p``-th percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def recommended_level(
    observed: float, *, margin: Decimal, floor: Decimal, step: Decimal
) -> Decimal:
    """Return ``observed`` plus the margin, rounded up to ``step``, at least ``floor``."""
    raw = Decimal(repr(observed)) * (1 + margin)
    steps = (raw / step).to_integral_value(rounding=ROUND_CEILING)
    return max(floor, steps * step)


def _levels(
    session: Session, ids: list[str], *, start: datetime, end: datetime
) -> dict[tuple[str, str], list[float]]:
    """Return the usage level of every sample, by (resource id, dimension)."""
    used = func.coalesce(cast(CostEntry.extra["used"].as_string(), Float), CostEntry.quantity)
    stmt = (
        select(CostEntry.resource_id, CostEntry.dimension, CostEntry.period_s, cast(used, Float))
        .where(
            CostEntry.source == "meter",
            CostEntry.dimension.in_(_DIMENSIONS),
            CostEntry.resource_id.in_(ids),
            CostEntry.at >= start,
            CostEntry.at < end,
            CostEntry.period_s > 0,
        )
        .execution_options(yield_per=5000)
    )
    levels: dict[tuple[str, str], list[float]] = {}
    for rid, dimension, period_s, amount in session.execute(stmt):
        level = float(amount or 0.0) / (float(period_s) / 3600)  # per-hour units → a level
        if dimension == "memory":
            level *= GIB
        levels.setdefault((rid, dimension), []).append(level)
    return levels


def _current(spec: dict[str, Any], dimension: str) -> Decimal | None:
    raw = (spec.get("resources") or {}).get(dimension)
    if raw in (None, "") or (isinstance(raw, str) and "${" in raw):
        return None
    try:
        return parse_quantity(raw)
    except InvalidInput:
        return None


def _how(spec: dict[str, Any], application: str, dimension: str, value: str) -> str:
    containers = sorted(spec.get("containers") or {})
    path = (
        f"containers.{containers[0]}.resources.limits.{dimension}"
        if len(containers) == 1
        else f"containers.<each>.resources.limits.{dimension} (summing to {value})"
    )
    if application:
        return f"add the override {{path: {path}, value: {value}}} to Application {application}"
    return f"set {path} to {value} in the workload's Score file"


@dataclass(frozen=True)
class _Context:
    book: PriceBook
    policy: RightsizingPolicy
    teams: dict[str, str]
    regions: dict[str, str]
    owners: dict[tuple[str, str, str], str]


def _recommend_one(
    ctx: _Context, record: ResourceRecord, dimension: str, values: list[float]
) -> Recommendation | None:
    policy = ctx.policy
    if len(values) < policy.min_samples:
        return None
    cpu = dimension == "cpu"
    p = policy.cpu_percentile if cpu else policy.memory_percentile
    observed = percentile(values, p)
    level = recommended_level(
        observed,
        margin=policy.margin,
        floor=policy.cpu_floor if cpu else policy.memory_floor,
        step=policy.cpu_step if cpu else policy.memory_step,
    )
    current = _current(record.desired, dimension)
    if current is not None and current > 0 and abs(level - current) < policy.min_change * current:
        return None
    text = format_quantity(level, binary=not cpu)
    resources = dict(record.desired.get("resources") or {})
    pricing = pricing_for(provider=record.provider, region=ctx.regions.get(record.environment, ""))
    before = estimate_resource(ctx.book, type=record.type, spec=record.desired, pricing=pricing)
    after_spec = {**record.desired, "resources": {**resources, dimension: text}}
    after = estimate_resource(ctx.book, type=record.type, spec=after_spec, pricing=pricing)
    shown = Decimal(repr(observed)).quantize(Decimal("0.001") if cpu else Decimal(1))
    application = ctx.owners.get((record.environment, record.project, record.workload), "")
    return Recommendation(
        workload=record.workload,
        resource=record.name,
        environment=record.environment,
        project=record.project,
        team=ctx.teams.get(record.project, ""),
        application=application,
        dimension=dimension,
        current=None if current is None else format_quantity(current, binary=not cpu),
        recommended=text,
        observed=format_quantity(shown, binary=not cpu),
        percentile=p,
        samples=len(values),
        monthly_savings=before.monthly - after.monthly,
        currency=ctx.book.currency,
        how=_how(record.desired, application, dimension, text),
    )


def recommend(
    session: Session,
    *,
    now: datetime,
    policy: RightsizingPolicy | None = None,
    environment: str | None = None,
    project: str | None = None,
) -> list[Recommendation]:
    """Return right-sizing recommendations, biggest monthly savings first."""
    policy = policy or RightsizingPolicy()
    stmt = select(ResourceRecord).where(
        ResourceRecord.type.in_(("service", "job")),
        ResourceRecord.workload != "",
        ResourceRecord.deleting.is_(False),
    )
    if environment:
        stmt = stmt.where(ResourceRecord.environment == environment)
    if project:
        stmt = stmt.where(ResourceRecord.project == project)
    records = list(session.scalars(stmt))
    owners_stmt = select(
        DocumentRecord.environment,
        DocumentRecord.project,
        DocumentRecord.name,
        DocumentRecord.owner,
    ).where(DocumentRecord.kind == "Workload", DocumentRecord.owner != "")
    ctx = _Context(
        book=current_pricebook(session),
        policy=policy,
        teams=dict(
            session.execute(
                select(ProjectRow.name, TeamRow.name).join(
                    TeamRow, TeamRow.id == ProjectRow.team_id
                )
            ).all()
        ),
        regions=dict(session.execute(select(EnvironmentRow.name, EnvironmentRow.region)).all()),
        owners={(e, p, n): o for e, p, n, o in session.execute(owners_stmt)},
    )
    levels = _levels(session, [r.id for r in records], start=now - policy.window, end=now)
    found = [
        rec
        for r in records
        for dimension in _DIMENSIONS
        if (rec := _recommend_one(ctx, r, dimension, levels.get((r.id, dimension), [])))
    ]
    return sorted(found, key=lambda r: (-r.monthly_savings, r.environment, r.resource, r.dimension))
