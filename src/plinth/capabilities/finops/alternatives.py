"""Cheaper ways to get the same change: ranked alternatives with their monthly savings.

For each resource a plan creates or grows, in this order of preference when
savings are equal:

- ``right-size``: with metered usage in the ledger, cpu and memory at the 95th
  percentile of measured use plus ``HEADROOM`` (20 %); without usage, half the
  declared amounts, never below the template's lower bounds (or ``FLOOR_CPU`` /
  ``FLOOR_MEMORY`` outside a template);
- ``spot``: the provider's spot price in the same region;
- ``region``: the cheapest other region of the same provider;
- ``instance-type``: a cheaper accelerator type (resources with accelerators);
- ``on-prem``: the organisation's internal (``local``/``on_prem``) rate;
- ``off-hours``: services outside production running only in working hours
  (``WORKING_HOURS`` of 168 a week); jobs run off-hours on spot capacity.

Alternatives with no saving are left out; the rest are sorted by saving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.estimate import (
    GIB,
    Estimate,
    Pricing,
    estimate_resource,
    money,
)
from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.finops.pricebook import PriceBook
from plinth.core.quantities import format_quantity, parse_quantity

__all__ = [
    "FLOOR_CPU",
    "FLOOR_MEMORY",
    "HEADROOM",
    "WORKING_HOURS",
    "Alternative",
    "Target",
    "alternatives_for",
    "parse_floor",
    "usage_p95",
]

HEADROOM = Decimal("1.2")
FLOOR_CPU = Decimal("0.1")
FLOOR_MEMORY = Decimal(64 * 1024**2)
WORKING_HOURS = Decimal(60)  # Monday to Friday, 08:00 to 20:00
USAGE_SAMPLES = 500
_ORDER = ("right-size", "spot", "region", "instance-type", "on-prem", "off-hours")


@dataclass(frozen=True)
class Target:
    """A resource a plan creates or grows, where it runs, and what bounds it has."""

    name: str
    type: str
    spec: dict[str, Any]
    pricing: Pricing
    environment: str
    project: str
    production: bool
    floor: dict[str, Decimal]


@dataclass(frozen=True)
class Alternative:
    """One cheaper option for one resource."""

    kind: str
    resource: str
    summary: str
    monthly_before: Decimal
    monthly_after: Decimal
    change: dict[str, str]

    @property
    def savings(self) -> Decimal:
        """Return the monthly saving."""
        return self.monthly_before - self.monthly_after

    def as_dict(self) -> dict[str, Any]:
        """Return the alternative as JSON data."""
        return {
            "kind": self.kind,
            "resource": self.resource,
            "summary": self.summary,
            "monthly_before": money(self.monthly_before, 2),
            "monthly_after": money(self.monthly_after, 2),
            "monthly_savings": money(self.savings, 2),
            "change": dict(self.change),
        }


def _percentile(values: list[Decimal], fraction: float) -> Decimal:
    ordered = sorted(values)
    index = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[index]


def usage_p95(session: Session, target: Target) -> dict[str, Decimal]:
    """Return the 95th percentile of metered cpu (vCPUs) and memory (bytes) of a resource."""
    found: dict[str, Decimal] = {}
    for dimension in ("cpu", "memory"):
        stmt = (
            select(CostEntry.quantity, CostEntry.extra, CostEntry.period_s)
            .where(
                CostEntry.source == "meter",
                CostEntry.resource_name == target.name,
                CostEntry.environment == target.environment,
                CostEntry.project == target.project,
                CostEntry.dimension == dimension,
                CostEntry.period_s > 0,
            )
            .order_by(CostEntry.at.desc())
            .limit(USAGE_SAMPLES)
        )
        # What was used, not what was charged (the charge is max(requested, used)).
        rates = [
            Decimal(str((extra or {}).get("used", q))) * 3600 / Decimal(str(p))
            for q, extra, p in session.execute(stmt)
        ]
        if rates:
            p95 = _percentile(rates, 0.95)
            found[dimension] = p95 * GIB if dimension == "memory" else p95
    return found


def _round_up(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _right_size(
    session: Session, book: PriceBook, target: Target, base: Estimate
) -> Alternative | None:
    if target.type not in ("service", "job"):
        return None
    cpu, memory = base.quantities.get("cpu"), base.quantities.get("memory")
    if cpu is None or memory is None:
        return None
    used = usage_p95(session, target)
    if used:
        new_cpu = _round_up(used.get("cpu", cpu) * HEADROOM, Decimal("0.01"))
        new_memory = _round_up(used.get("memory", memory) * HEADROOM, Decimal(16 * 1024**2))
        why = "p95 of measured use + 20 %"
    else:
        new_cpu = max(cpu / 2, target.floor.get("cpu", FLOOR_CPU))
        new_memory = max(memory / 2, target.floor.get("memory", FLOOR_MEMORY))
        why = "half the declared amounts, inside the template's bounds"
    new_cpu, new_memory = min(new_cpu, cpu), min(new_memory, memory)
    if (new_cpu, new_memory) == (cpu, memory):
        return None
    shown = {"cpu": format_quantity(new_cpu), "memory": format_quantity(new_memory, binary=True)}
    resources = dict(target.spec.get("resources") or {}) | shown
    after = estimate_resource(
        book, type=target.type, spec=target.spec | {"resources": resources}, pricing=target.pricing
    )
    summary = (
        f"cpu {format_quantity(cpu)} -> {shown['cpu']}, memory "
        f"{format_quantity(memory, binary=True)} -> {shown['memory']} ({why})"
    )
    return Alternative("right-size", target.name, summary, base.monthly, after.monthly, shown)


def _priced(book: PriceBook, target: Target, pricing: Pricing) -> Estimate | None:
    """Return the estimate at other pricing, or None when the book lacks its compute rates."""
    estimate = estimate_resource(book, type=target.type, spec=target.spec, pricing=pricing)
    return None if any("not priced" in n for n in estimate.notes) else estimate


def _regions(book: PriceBook, provider: str, sku: str) -> list[str]:
    return sorted(
        {
            r.region
            for r in book.rates()
            if r.provider == provider and r.sku == sku and r.price_type == "on_demand"
        }
    )


def _spot(book: PriceBook, target: Target, base: Estimate) -> list[Alternative]:
    """Return the spot alternative (for jobs: off-hours on spot capacity)."""
    p = target.pricing
    if p.price_type == "spot" or target.type not in ("service", "job"):
        return []
    spot = _priced(book, target, replace(p, price_type="spot"))
    if spot is None:
        return []
    kind = "off-hours" if target.type == "job" else "spot"
    what = "run off-hours on spot capacity" if kind == "off-hours" else "run on spot capacity"
    summary = f"{what} in {p.region}"
    return [
        Alternative(kind, target.name, summary, base.monthly, spot.monthly, {"price_type": "spot"})
    ]


def _region(book: PriceBook, target: Target, base: Estimate) -> list[Alternative]:
    """Return the cheapest other region of the same provider, if any is cheaper."""
    p = target.pricing
    cheapest: tuple[Decimal, str] | None = None
    for region in _regions(book, p.provider, base.lines[0].sku):
        other = None
        if region != p.region:
            other = _priced(book, target, Pricing(p.provider, region, "on_demand"))
        if other is not None and (cheapest is None or other.monthly < cheapest[0]):
            cheapest = (other.monthly, region)
    if cheapest is None:
        return []
    summary = f"run in {p.provider} {cheapest[1]}"
    return [
        Alternative(
            "region", target.name, summary, base.monthly, cheapest[0], {"region": cheapest[1]}
        )
    ]


def _on_prem(book: PriceBook, target: Target, base: Estimate) -> list[Alternative]:
    """Return the organisation's own hardware as an alternative to a cloud provider."""
    if target.pricing.provider == "local":
        return []
    local = _priced(book, target, Pricing("local", "local", "on_prem"))
    if local is None:
        return []
    summary = "run on the organisation's own hardware"
    return [
        Alternative(
            "on-prem", target.name, summary, base.monthly, local.monthly, {"provider": "local"}
        )
    ]


def _placement(book: PriceBook, target: Target, base: Estimate) -> list[Alternative]:
    """Return spot, region and on-prem alternatives."""
    if not base.lines:
        return []
    return [
        *_spot(book, target, base),
        *_region(book, target, base),
        *_on_prem(book, target, base),
    ]


def _instance_type(book: PriceBook, target: Target, base: Estimate) -> list[Alternative]:
    gpu = target.spec.get("accelerators")
    if not isinstance(gpu, dict) or not gpu.get("count"):
        return []
    p, current = target.pricing, str(gpu.get("type", "gpu")).lower()
    best: Alternative | None = None
    for rate in book.rates():
        if not rate.sku.startswith("accelerator.") or rate.key()[1:] != (
            p.provider,
            p.region,
            p.price_type,
        ):
            continue
        kind = rate.sku.removeprefix("accelerator.")
        if kind == current:
            continue
        spec = target.spec | {"accelerators": {**gpu, "type": kind}}
        other = estimate_resource(book, type=target.type, spec=spec, pricing=p)
        if best is None or other.monthly < best.monthly_after:
            best = Alternative(
                "instance-type",
                target.name,
                f"use {kind.upper()} instead of {current.upper()} accelerators",
                base.monthly,
                other.monthly,
                {"accelerator": kind},
            )
    return [best] if best is not None else []


def _off_hours(target: Target, base: Estimate) -> list[Alternative]:
    if target.type != "service" or target.production:
        return []
    after = base.monthly * WORKING_HOURS / Decimal(168)
    summary = "run only in working hours (Mon-Fri 08:00-20:00), outside production"
    return [
        Alternative(
            "off-hours",
            target.name,
            summary,
            base.monthly,
            after,
            {"schedule": "Mon-Fri 08:00-20:00"},
        )
    ]


def alternatives_for(session: Session, book: PriceBook, targets: list[Target]) -> list[Alternative]:
    """Return every cheaper alternative for ``targets``, largest saving first."""
    found: list[Alternative] = []
    for target in targets:
        base = estimate_resource(book, type=target.type, spec=target.spec, pricing=target.pricing)
        if base.monthly <= 0:
            continue
        sized = _right_size(session, book, target, base)
        found.extend([sized] if sized else [])
        found.extend(_placement(book, target, base))
        found.extend(_instance_type(book, target, base))
        found.extend(_off_hours(target, base))
    useful = [a for a in found if a.savings > Decimal("0.005")]
    return sorted(useful, key=lambda a: (-a.savings, _ORDER.index(a.kind), a.resource))


def parse_floor(raw: dict[str, Any] | None) -> dict[str, Decimal]:
    """Return the lower cpu and memory bounds of a Template document (summed over containers)."""
    floor: dict[str, Decimal] = {}
    for bound in ((raw or {}).get("spec") or {}).get("bounds") or []:
        path, low = str(bound.get("path", "")), bound.get("min")
        for dimension in ("cpu", "memory"):
            if low is not None and path.endswith(f".resources.limits.{dimension}"):
                floor[dimension] = floor.get(dimension, Decimal(0)) + parse_quantity(low)
    return floor
