"""FOCUS: the ledger as a FOCUS 1.2 cost and usage dataset, billing imports, reconciliation.

- :func:`export_focus` writes the ledger rows of a window (metered and billed,
  not estimates) as FOCUS 1.2 CSV. Metered rows are described by the platform
  itself: the price book's rate is both the list and the contracted unit price,
  ``PricingQuantity`` is the charged quantity (``max(requested, used)``) and
  ``ConsumedQuantity`` what was used; ``Tags`` carry the attribution (team,
  project, environment, agent, model) and ``SubAccountId`` is the project.
  Billed rows are written back as they were imported, in FOCUS 1.2 spelling.
  Null is an empty field; times are ``YYYY-MM-DDTHH:MM:SSZ``; custom columns
  ``x_PlinthSource`` and ``x_PlinthDimension`` come last.
- :func:`import_focus` (in :mod:`.focus_import`) reads a FOCUS 1.0+ billing export.
- :func:`reconcile` compares, per resource, what the platform metered (or, failing
  that, estimated) with what was billed.

The caller owns the transaction.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.focus_import import (
    DEFAULT_TAG_KEYS,
    FocusImportError,
    ImportResult,
    import_focus,
)
from plinth.capabilities.finops.focus_spec import (
    CHARGE_FREQUENCIES,
    EXPORT_COLUMNS,
    PRICING_CATEGORY_RENAMES,
    SERVICE_CATEGORIES,
)
from plinth.capabilities.finops.models import CostEntry
from plinth.core.errors import InvalidInput

__all__ = [
    "DEFAULT_TAG_KEYS",
    "EXPORT_SOURCES",
    "FocusImportError",
    "ImportResult",
    "ReconcileLine",
    "check_window",
    "export_focus",
    "focus_time",
    "import_focus",
    "reconcile",
]

EXPORT_SOURCES = ("meter", "billing")
NANO = Decimal("0.000000001")
_ATTRIBUTION = ("team", "project", "environment", "agent", "model")

# (ServiceName, ServiceCategory, ServiceSubcategory) of what the platform meters. The key
# is the dimension for tokens, accelerators and egress, else the resource type, so that
# each ServiceName has exactly one category, as FOCUS requires.
_SERVICES: dict[str, tuple[str, str, str]] = {
    "service": ("Plinth Services", "Compute", "Containers"),
    "job": ("Plinth Jobs", "Compute", "Containers"),
    "postgres": ("Plinth PostgreSQL", "Databases", "Relational Databases"),
    "volume": ("Plinth Volumes", "Storage", "Block Storage"),
    "route": ("Plinth Routes", "Networking", "Application Networking"),
    "llm": ("Plinth LLM Gateway", "AI and Machine Learning", "Generative AI"),
    "accelerator": ("Plinth Accelerators", "Compute", "Other (Compute)"),
    "network": ("Plinth Network", "Networking", "Network Connectivity"),
}
_OTHER_SERVICE = ("Plinth Compute", "Compute", "Other (Compute)")

# Ledger units in FOCUS Unit Format (``<singular>-<plural time units>``, counts capitalised).
_UNITS = {
    "vcpu-hour": "Core-Hours",
    "gib-hour": "GiB-Hours",
    "gpu-hour": "GPU-Hours",
    "instance-hour": "Instance-Hours",
    "gib-month": "GiB-Months",
    "gib": "GiB",
    "token": "Tokens",
    "request": "Requests",
}

_PROVIDERS = {
    "local": "Plinth Local",
    "aws": "AWS",
    "gcp": "Google Cloud",
    "azure": "Microsoft Azure",
    "openai": "OpenAI",
    "anthropic": "Anthropic",
}


def focus_time(value: datetime) -> str:
    """Return an aware time in FOCUS Date/Time format: ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    if value.tzinfo is None:
        raise ValueError("focus_time needs an aware datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Decimal | None) -> str:
    """Return a decimal in plain notation, at most 9 places, without trailing zeros."""
    if value is None:
        return ""
    with contextlib.suppress(InvalidOperation):  # too many digits to round: print as it is
        value = value.quantize(NANO)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _billing_period(at: datetime) -> tuple[datetime, datetime]:
    start = at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _service(entry: CostEntry) -> tuple[str, str, str]:
    dimension = entry.dimension
    if dimension.startswith("tokens_"):
        key = "llm"
    elif dimension == "gpu" or dimension.startswith(("gpu.", "gpu:")):
        key = "accelerator"
    elif dimension == "egress":
        key = "network"
    else:
        key = entry.resource_type
    return _SERVICES.get(key, _OTHER_SERVICE)


def _unit(unit: str) -> str:
    return _UNITS.get(unit, unit)


def _tags(entry: CostEntry) -> str:
    tags = {key: getattr(entry, key) for key in _ATTRIBUTION if getattr(entry, key)}
    return json.dumps(tags, sort_keys=True) if tags else ""


def _metered_row(entry: CostEntry, *, account_id: str, account_name: str) -> dict[str, str]:
    """Return the FOCUS columns of one metered (or estimated) ledger row."""
    service_name, category, subcategory = _service(entry)
    provider = _PROVIDERS.get(entry.provider, entry.provider) or "Plinth"
    period_start, period_end = _billing_period(entry.at)
    used = (entry.extra or {}).get("used")
    priced = bool(entry.sku)
    listed = entry.quantity * entry.unit_price
    what = " ".join(p for p in (entry.resource_type, entry.resource_name) if p)
    return {
        "BilledCost": _number(entry.cost),
        "BillingAccountId": account_id,
        "BillingAccountName": account_name,
        "BillingCurrency": entry.currency,
        "BillingPeriodEnd": focus_time(period_end),
        "BillingPeriodStart": focus_time(period_start),
        "ChargeCategory": "Usage",
        "ChargeDescription": f"{entry.dimension} used by {what}" if what else entry.dimension,
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": focus_time(entry.at + timedelta(seconds=entry.period_s)),
        "ChargePeriodStart": focus_time(entry.at),
        "ConsumedQuantity": _number(Decimal(used) if used is not None else entry.quantity),
        "ConsumedUnit": _unit(entry.unit),
        "ContractedCost": _number(listed if priced else entry.cost),
        "ContractedUnitPrice": _number(entry.unit_price) if priced else "",
        "EffectiveCost": _number(entry.cost),
        "InvoiceIssuerName": provider,
        "ListCost": _number(listed if priced else entry.cost),
        "ListUnitPrice": _number(entry.unit_price) if priced else "",
        "PricingCategory": "Standard",
        "PricingQuantity": _number(entry.quantity),
        "PricingUnit": _unit(entry.unit),
        "ProviderName": provider,
        "PublisherName": provider,
        "RegionId": entry.region,
        "RegionName": entry.region,
        "ResourceId": entry.resource_id,
        "ResourceName": entry.resource_name if entry.resource_id else "",
        "ResourceType": (entry.resource_type or "Resource") if entry.resource_id else "",
        "ServiceCategory": category,
        "ServiceName": service_name,
        "ServiceSubcategory": subcategory,
        "SkuId": entry.sku,
        "SkuMeter": entry.dimension if priced else "",
        "SkuPriceId": f"{entry.sku}@{entry.provider}/{entry.region}" if priced else "",
        "SubAccountId": entry.project,
        "SubAccountName": entry.project,
        "Tags": _tags(entry),
    }


def _subcategory_for(category: str) -> str:
    return f"Other ({category})" if category in SERVICE_CATEGORIES else ""


def _billed_row(entry: CostEntry) -> dict[str, str]:
    """Return the FOCUS columns of an imported bill line, in FOCUS 1.2 spelling."""
    raw: Mapping[str, Any] = (entry.extra or {}).get("focus") or {}
    row = {key: "" if value is None else str(value) for key, value in raw.items()}
    row["BilledCost"] = _number(entry.cost)
    category = row.get("PricingCategory", "")
    row["PricingCategory"] = PRICING_CATEGORY_RENAMES.get(category, category)
    frequency = row.get("ChargeFrequency", "")
    for allowed in CHARGE_FREQUENCIES:
        if frequency.lower() == allowed.lower():
            row["ChargeFrequency"] = allowed
    if not row.get("ServiceSubcategory"):
        row["ServiceSubcategory"] = _subcategory_for(row.get("ServiceCategory", ""))
    return row


def _entries(
    session: Session, *, start: datetime, end: datetime, sources: Sequence[str]
) -> Iterable[CostEntry]:
    stmt = (
        select(CostEntry)
        .where(CostEntry.at >= start, CostEntry.at < end, CostEntry.source.in_(list(sources)))
        .order_by(CostEntry.at, CostEntry.id)
        .execution_options(yield_per=1000)
    )
    return session.scalars(stmt)


def check_window(start: datetime, end: datetime) -> None:
    """Refuse a window with naive times or that does not run forwards."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start and end need a time zone, e.g. 2026-11-01T00:00:00Z")
    if end <= start:
        raise InvalidInput(f"end ({focus_time(end)}) must be after start ({focus_time(start)})")


def export_focus(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    sources: Sequence[str] = EXPORT_SOURCES,
    account_id: str = "plinth",
    account_name: str = "Plinth",
) -> str:
    """Return the ledger rows charged in ``[start, end)`` as a FOCUS 1.2 CSV dataset."""
    check_window(start, end)
    unknown = sorted(set(sources) - {"meter", "billing", "estimate"})
    if unknown:
        raise InvalidInput(f"unknown ledger sources {unknown} (known: meter, billing, estimate)")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", restval="")
    writer.writeheader()
    for entry in _entries(session, start=start, end=end, sources=sources):
        if entry.source == "billing":
            row = _billed_row(entry)
        else:
            row = _metered_row(entry, account_id=account_id, account_name=account_name)
        row["x_PlinthSource"] = entry.source
        row["x_PlinthDimension"] = entry.dimension
        writer.writerow(row)
    return out.getvalue()


@dataclass(frozen=True)
class ReconcileLine:
    """One resource's metered (or estimated) cost against its billed cost, in one currency."""

    resource_id: str
    resource_name: str
    team: str
    currency: str
    metered: Decimal
    estimated: Decimal
    billed: Decimal
    expected: Decimal  # what the platform thought it cost: metered when metered, else estimated
    error: Decimal  # expected - billed
    error_pct: Decimal | None  # error / billed x 100 (None when nothing was billed)
    status: str  # matched | not_billed | not_metered

    def as_dict(self) -> dict[str, Any]:
        """Return the line as API data (money as decimal strings)."""
        return {
            "resource_id": self.resource_id,
            "resource_name": self.resource_name,
            "team": self.team,
            "currency": self.currency,
            "metered": _number(self.metered),
            "estimated": _number(self.estimated),
            "billed": _number(self.billed),
            "expected": _number(self.expected),
            "error": _number(self.error),
            "error_pct": None if self.error_pct is None else format(self.error_pct, "f"),
            "status": self.status,
        }


def _resource_key(entry: CostEntry) -> str:
    full = (entry.extra or {}).get("resource_id")
    return str(full) if entry.source == "billing" and full else entry.resource_id


def reconcile(session: Session, *, start: datetime, end: datetime) -> list[ReconcileLine]:
    """Return, per resource and currency, metered/estimated cost against billed cost."""
    check_window(start, end)
    sums: dict[tuple[str, str], dict[str, Decimal]] = {}
    labels: dict[tuple[str, str], tuple[str, str]] = {}
    stmt = select(CostEntry).where(
        CostEntry.at >= start, CostEntry.at < end, CostEntry.resource_id != ""
    )
    for entry in session.scalars(stmt.execution_options(yield_per=1000)):
        key = (_resource_key(entry), entry.currency)
        bucket = sums.setdefault(key, {})
        bucket[entry.source] = bucket.get(entry.source, Decimal(0)) + entry.cost
        name, team = labels.get(key, ("", ""))
        labels[key] = (name or entry.resource_name, team or entry.team)
    return [_line(key, sums[key], labels[key]) for key in sorted(sums)]


def _line(
    key: tuple[str, str], sums: Mapping[str, Decimal], labels: tuple[str, str]
) -> ReconcileLine:
    zero = Decimal(0)
    metered, estimated = sums.get("meter", zero), sums.get("estimate", zero)
    expected = metered if "meter" in sums else estimated
    if "billing" not in sums:
        status = "not_billed"
    elif "meter" not in sums and "estimate" not in sums:
        status = "not_metered"
    else:
        status = "matched"
    billed = sums.get("billing", zero)
    error = expected - billed
    pct = (error / billed * 100).quantize(Decimal("0.01")) if billed else None
    return ReconcileLine(
        resource_id=key[0],
        resource_name=labels[0],
        team=labels[1],
        currency=key[1],
        metered=metered,
        estimated=estimated,
        billed=billed,
        expected=expected,
        error=error,
        error_pct=pct,
        status=status,
    )
