"""Import FOCUS 1.0+ billing exports into the ledger: all or nothing, idempotent.

Rules (the bad-input contract):

- Row numbers count the header as row 1, as a spreadsheet shows them; every
  error names its row and column, and the first 100 errors are all reported.
- Missing mandatory columns (those mandatory since FOCUS 1.0) are one error that
  lists them all; nothing else is checked until the header is right.
- ``NULL`` (any case) and empty fields are null. A null in a column the ledger
  needs (``BilledCost``, ``BillingCurrency``, ``ChargeCategory``,
  ``ChargePeriodStart``, ``ChargePeriodEnd``) is an error; another null that
  FOCUS forbids is imported as null with a warning naming its row and column
  (the FinOps Foundation's own 1.0 sample has empty ``ContractedCost`` cells).
- Times must be ISO 8601 with a zone (``2024-09-01T00:00:00Z``; other offsets are
  converted to UTC). A time without a zone is refused, unless the caller passes
  ``assume_utc=True``, which reads it as UTC (FOCUS requires UTC, so exports
  that drop the ``Z`` usually mean it). The choice is the caller's, never a guess.
- Money and quantities must be decimal numbers (kept to 9 decimal places, the
  ledger's precision); ``ChargeCategory`` one of the
  FOCUS values; ``BillingCurrency`` a three-letter code; ``Tags`` a JSON object.
- All or nothing: every row is checked before any is written.
- Idempotent: each row's key is the SHA-256 of the import source name and the
  row's values (plus its occurrence number among identical rows), kept in
  ``extra.import.key``; rows whose key is already in the ledger are skipped.

Each row becomes one ``CostEntry`` with source ``billing``: its cost is
``BilledCost`` (``EffectiveCost`` is kept in ``extra``), attributed to team,
project and environment from ``Tags`` (keys in :data:`DEFAULT_TAG_KEYS`, case
insensitive, first match wins). A row without a team is kept with an empty
team: unattributed, never dropped. ``ResourceId`` is kept (ids longer than the
ledger's 64 characters are shortened with a hash, the full id kept in
``extra.resource_id``), and so is every non-null column in ``extra.focus``.

The caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.focus_rows import (
    LEDGER_REQUIRED,
    MAX_ERRORS,
    CheckedRow,
    FocusImportError,
    RowError,
    parse_focus_rows,
    parse_focus_time,
)
from plinth.capabilities.finops.models import CostEntry
from plinth.core.clock import Clock
from plinth.core.digest import canonical_json
from plinth.core.errors import InvalidInput

__all__ = [
    "DEFAULT_TAG_KEYS",
    "LEDGER_REQUIRED",
    "MAX_ERRORS",
    "FocusImportError",
    "ImportResult",
    "RowError",
    "import_focus",
    "parse_focus_time",
]

_CHUNK = 500
DEFAULT_TAG_KEYS: Mapping[str, tuple[str, ...]] = {
    "team": ("team", "plinth.dev/team", "business_unit"),
    "project": ("project", "plinth.dev/project", "application"),
    "environment": ("environment", "plinth.dev/environment", "env"),
    "agent": ("agent", "plinth.dev/agent"),
    "model": ("model", "plinth.dev/model"),
}
_LIMITS = {"team": 63, "project": 63, "environment": 63, "agent": 100, "model": 200}


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    source: str
    rows: int
    imported: int
    duplicates: int
    unattributed: int
    billed: dict[str, Decimal] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    warnings: list[RowError] = field(default_factory=list)  # the first MAX_ERRORS
    warning_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the result as API data (money as decimal strings)."""
        return {
            "source": self.source,
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "unattributed": self.unattributed,
            "billed": {k: format(v, "f") for k, v in sorted(self.billed.items())},
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "warnings": [w.as_dict() for w in self.warnings],
            "warning_count": self.warning_count,
        }


def _tag_value(tags: Mapping[str, Any], keys: Sequence[str]) -> str:
    lowered = {str(k).strip().lower(): v for k, v in tags.items()}
    for key in keys:
        value = lowered.get(key.lower())
        if value not in (None, "", True, False):
            return str(value).strip()
    return ""


def _resource_id(raw: str | None) -> tuple[str, str | None]:
    if not raw:
        return "", None
    if len(raw) <= 64:
        return raw, None
    return f"{raw[:47]}~{hashlib.sha256(raw.encode()).hexdigest()[:16]}", raw


def _text(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return None if value is None else str(value)


def _entry(
    row: CheckedRow, *, key: str, source: str, tag_keys: Mapping[str, Sequence[str]], now: datetime
) -> dict[str, Any]:
    """Return the ledger row of one checked FOCUS row."""
    v = row.values
    tags = v.get("Tags") or {}
    attribution = {
        label: _tag_value(tags, tag_keys.get(label, ()))[:limit] for label, limit in _LIMITS.items()
    }
    resource_id, full_id = _resource_id(v.get("ResourceId"))
    start, end = v["ChargePeriodStart"], v["ChargePeriodEnd"]
    extra: dict[str, Any] = {
        "focus": {name: _text(value) for name, value in v.items() if value is not None},
        "import": {"source": source, "row": row.number, "key": key},
        "effective_cost": _text(v.get("EffectiveCost")),
    }
    if full_id:
        extra["resource_id"] = full_id
    quantity = v.get("PricingQuantity") or v.get("ConsumedQuantity") or Decimal(0)
    price = v.get("ContractedUnitPrice") or v.get("ListUnitPrice") or Decimal(0)
    return {
        "at": start,
        "period_s": (end - start).total_seconds(),
        "source": "billing",
        "resource_id": resource_id,
        "resource_name": (v.get("ResourceName") or "")[:253],
        "resource_type": (v.get("ResourceType") or "")[:63],
        "provider": (v.get("ProviderName") or "")[:63],
        "region": (v.get("RegionId") or v.get("RegionName") or "")[:63],
        **attribution,
        "sku": (v.get("SkuId") or "")[:200],
        "dimension": v["ChargeCategory"].lower(),
        "quantity": quantity,
        "unit": (v.get("PricingUnit") or v.get("ConsumedUnit") or "")[:32],
        "unit_price": price,
        "cost": v["BilledCost"],
        "currency": v["BillingCurrency"],
        "extra": extra,
        "ingested_at": now,
    }


def _keys(rows: Sequence[CheckedRow], source: str) -> list[str]:
    seen: Counter[str] = Counter()
    keys = []
    for row in rows:
        content = canonical_json(row.raw)
        seen[content] += 1
        body = canonical_json({"source": source, "row": row.raw, "n": seen[content]})
        keys.append(hashlib.sha256(body.encode()).hexdigest())
    return keys


def _existing(session: Session, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    column = CostEntry.extra["import"]["key"].as_string()
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        stmt = select(column).where(CostEntry.source == "billing", column.in_(chunk))
        found.update(str(k) for k in session.scalars(stmt))
    return found


def import_focus(
    session: Session,
    text: str,
    *,
    source_name: str,
    clock: Clock,
    assume_utc: bool = False,
    tag_keys: Mapping[str, Sequence[str]] = DEFAULT_TAG_KEYS,
) -> ImportResult:
    """Check a FOCUS 1.0+ CSV export and add its rows to the ledger; all or nothing."""
    source = source_name.strip()
    if not source or len(source) > 200:
        raise InvalidInput("the import needs a source name of 1 to 200 characters")
    rows = parse_focus_rows(text, source=source, assume_utc=assume_utc)
    keys = _keys(rows, source)
    existing = _existing(session, keys)
    now = clock.now()
    fresh = [
        _entry(row, key=key, source=source, tag_keys=tag_keys, now=now)
        for row, key in zip(rows, keys, strict=True)
        if key not in existing
    ]
    for start in range(0, len(fresh), _CHUNK):
        session.execute(insert(CostEntry), fresh[start : start + _CHUNK])
    warnings = [w for row in rows for w in row.warnings]
    billed: dict[str, Decimal] = {}
    for entry in fresh:
        billed[entry["currency"]] = billed.get(entry["currency"], Decimal(0)) + entry["cost"]
    return ImportResult(
        source=source,
        rows=len(rows),
        imported=len(fresh),
        duplicates=len(rows) - len(fresh),
        unattributed=sum(1 for entry in fresh if not entry["team"]),
        billed=billed,
        start=min((e["at"] for e in fresh), default=None),
        end=max((e["at"] for e in fresh), default=None),
        warnings=warnings[:MAX_ERRORS],
        warning_count=len(warnings),
    )
