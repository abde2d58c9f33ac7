"""Reading the ledger: cost by team, project, environment, agent, model or resource type.

Every query covers a :class:`~plinth.capabilities.finops.windows.Window` and one
currency. Rows without a value for the grouping column form the
``unattributed`` group: shown, never dropped. Rows of the reserved team
``shared`` (the control plane's own cost, resources shared between teams) are
the *shared pool*: by default it is distributed to the attributed groups in
proportion to their direct cost, and shown per group as ``shared`` (the rule of
docs/finops-metering.md). Amounts in other currencies are reported beside the
total, never added to it.

The caller owns the session; nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.metering import SHARED_TEAM
from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.finops.windows import Window
from plinth.core.errors import InvalidInput

__all__ = [
    "GROUPS",
    "MAX_BUCKETS",
    "UNATTRIBUTED",
    "CostItem",
    "CostReport",
    "CostSeries",
    "allocate",
    "bucket_starts",
    "cost_by",
    "cost_series",
    "money",
]

UNATTRIBUTED = "unattributed"
MAX_BUCKETS = 2000
NANO = Decimal("0.000000001")
GROUPS: dict[str, Any] = {
    "team": CostEntry.team,
    "project": CostEntry.project,
    "environment": CostEntry.environment,
    "agent": CostEntry.agent,
    "model": CostEntry.model,
    "resource_type": CostEntry.resource_type,
    "resource": CostEntry.resource_id,
    "provider": CostEntry.provider,
    "region": CostEntry.region,
    "dimension": CostEntry.dimension,
    "sku": CostEntry.sku,
    "source": CostEntry.source,
}
_FILTERS = tuple(GROUPS)


def money(value: Decimal) -> str:
    """Return an amount as a plain decimal string with at most 9 places (``"12.5"``)."""
    text = format(value.quantize(NANO), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class CostItem:
    """The cost of one group: its own (direct) cost plus its share of the shared pool."""

    key: str
    direct: Decimal
    shared: Decimal = Decimal(0)
    name: str = ""

    @property
    def cost(self) -> Decimal:
        """Return direct plus shared cost."""
        return self.direct + self.shared

    def as_dict(self, by: str, currency: str) -> dict[str, Any]:
        """Return the item as JSON data, money as decimal strings."""
        data: dict[str, Any] = {
            by: self.key,
            "cost": money(self.cost),
            "direct": money(self.direct),
            "shared": money(self.shared),
            "currency": currency,
        }
        if self.key == UNATTRIBUTED:
            data["unattributed"] = True
        if self.name:
            data["name"] = self.name
        return data


@dataclass(frozen=True)
class CostReport:
    """Cost per group over a window, with totals."""

    by: str
    window: Window
    currency: str
    items: list[CostItem]
    total: Decimal
    unattributed: Decimal
    shared: Decimal
    other_currencies: dict[str, Decimal] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON data."""
        return {
            "by": self.by,
            "window": self.window.as_dict(),
            "currency": self.currency,
            "items": [i.as_dict(self.by, self.currency) for i in self.items],
            "total": money(self.total),
            "unattributed": money(self.unattributed),
            "shared": money(self.shared),
            "other_currencies": {k: money(v) for k, v in sorted(self.other_currencies.items())},
        }


@dataclass(frozen=True)
class CostSeries:
    """Cost per group per time bucket."""

    by: str
    window: Window
    step: timedelta
    currency: str
    buckets: list[datetime]
    series: dict[str, list[Decimal]]

    def as_dict(self) -> dict[str, Any]:
        """Return the series as JSON data: one list of points per group."""
        return {
            "by": self.by,
            "window": self.window.as_dict(),
            "step_s": int(self.step.total_seconds()),
            "currency": self.currency,
            "buckets": [b.isoformat() for b in self.buckets],
            "series": [
                {
                    self.by: key,
                    "total": money(sum(points, Decimal(0))),
                    "points": [
                        {"at": b.isoformat(), "cost": money(p)}
                        for b, p in zip(self.buckets, points, strict=True)
                    ],
                }
                for key, points in sorted(self.series.items())
            ],
        }


def _group(by: str) -> Any:
    column = GROUPS.get(by)
    if column is None:
        raise InvalidInput(f"cannot group cost by {by!r} (known: {', '.join(GROUPS)})")
    return column


def _conditions(window: Window, filters: Mapping[str, str] | None) -> list[ColumnElement[bool]]:
    conditions = [CostEntry.at >= window.start, CostEntry.at < window.end]
    for name, value in (filters or {}).items():
        if name not in _FILTERS:
            raise InvalidInput(f"cannot filter cost by {name!r} (known: {', '.join(_FILTERS)})")
        conditions.append(GROUPS[name] == ("" if value == UNATTRIBUTED else value))
    return conditions


def allocate(weights: Mapping[str, Decimal], pool: Decimal) -> dict[str, Decimal]:
    """Split ``pool`` over groups in proportion to their weights (their team-attributed cost).

    Rounding leftovers go to the heaviest group so the shares add up to the pool
    exactly. Empty when nobody can take it.
    """
    takers = {k: v for k, v in weights.items() if v > 0}
    base = sum(takers.values(), Decimal(0))
    if pool == 0 or base <= 0:
        return {}
    shares = {k: (pool * v / base).quantize(NANO) for k, v in takers.items()}
    largest = max(takers, key=lambda k: (takers[k], k))
    shares[largest] += pool - sum(shares.values(), Decimal(0))
    return shares


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value.quantize(NANO)
    return Decimal(repr(float(value))).quantize(NANO)


@dataclass
class _Tally:
    """Direct cost per group, each group's team-attributed part, and the shared pool."""

    allocate_shared: bool
    direct: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    weights: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    pool: Decimal = Decimal(0)

    def add(self, key: str | None, *, shared: bool, teamed: bool, value: Decimal) -> None:
        """Count one aggregated row."""
        if shared and self.allocate_shared:
            self.pool += value
            return
        group = key or UNATTRIBUTED
        self.direct[group] += value
        if teamed and not shared:
            self.weights[group] += value

    def shares(self) -> dict[str, Decimal]:
        """Return each group's share of the pool (a ``shared`` line when nobody can take it)."""
        shares = allocate(self.weights, self.pool) if self.allocate_shared else {}
        if self.pool and not shares:
            self.direct[SHARED_TEAM] += self.pool
        return shares


def cost_by(
    session: Session,
    *,
    by: str,
    window: Window,
    currency: str = "USD",
    filters: Mapping[str, str] | None = None,
    allocate_shared: bool = True,
) -> CostReport:
    """Return cost per ``by`` group over ``window``, unattributed and shared shown."""
    column = _group(by)
    is_shared, has_team = CostEntry.team == SHARED_TEAM, CostEntry.team != ""
    stmt = (
        select(
            column,
            is_shared,
            has_team,
            CostEntry.currency,
            func.sum(CostEntry.cost),
            func.max(CostEntry.resource_name),
        )
        .where(*_conditions(window, filters))
        .group_by(column, is_shared, has_team, CostEntry.currency)
    )
    tally = _Tally(allocate_shared)
    names: dict[str, str] = {}
    others: dict[str, Decimal] = defaultdict(Decimal)
    for key, shared, teamed, row_currency, amount, name in session.execute(stmt):
        if row_currency != currency:
            others[row_currency or "?"] += _decimal(amount)
            continue
        tally.add(key, shared=bool(shared), teamed=bool(teamed), value=_decimal(amount))
        names[key or UNATTRIBUTED] = names.get(key or UNATTRIBUTED) or name or ""
    shares = tally.shares()
    items = [
        CostItem(k, v, shares.get(k, Decimal(0)), names.get(k, "") if by == "resource" else "")
        for k, v in tally.direct.items()
    ]
    items.sort(key=lambda i: (-i.cost, i.key))
    return CostReport(
        by=by,
        window=window,
        currency=currency,
        items=items,
        total=sum((i.cost for i in items), Decimal(0)),
        unattributed=tally.direct.get(UNATTRIBUTED, Decimal(0)),
        shared=tally.pool,
        other_currencies=dict(others),
    )


def _epoch(session: Session) -> Any:
    """Return a SQL expression for ``at`` in whole POSIX seconds, on either backend."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", CostEntry.at), Integer)
    return cast(func.floor(func.extract("epoch", CostEntry.at)), Integer)


def bucket_starts(window: Window, step: timedelta) -> list[datetime]:
    """Return the start of every bucket of ``step`` (aligned to the epoch) that meets the window."""
    step_s = int(step.total_seconds())
    if step_s < 60:
        raise InvalidInput("step must be at least 1 minute")
    first = int(window.start.timestamp()) // step_s * step_s
    count = -(-(int(window.end.timestamp()) - first) // step_s)
    if count > MAX_BUCKETS:
        raise InvalidInput(
            f"{count} steps of {step_s}s in this window; at most {MAX_BUCKETS} (use a larger step)"
        )
    return [datetime.fromtimestamp(first + n * step_s, UTC) for n in range(count)]


def cost_series(
    session: Session,
    *,
    by: str,
    window: Window,
    step: timedelta,
    currency: str = "USD",
    filters: Mapping[str, str] | None = None,
    allocate_shared: bool = True,
) -> CostSeries:
    """Return cost per ``by`` group per ``step`` over ``window`` (the shared pool allocated)."""
    column = _group(by)
    buckets = bucket_starts(window, step)
    origin, step_s = int(buckets[0].timestamp()), int(step.total_seconds())
    # Integer division: every row is at or after the origin, so truncation is the floor.
    index = (_epoch(session) - origin) // step_s
    is_shared, has_team = CostEntry.team == SHARED_TEAM, CostEntry.team != ""
    stmt = (
        select(index, column, is_shared, has_team, func.sum(CostEntry.cost))
        .where(*_conditions(window, filters), CostEntry.currency == currency)
        .group_by(index, column, is_shared, has_team)
    )
    tallies: dict[int, _Tally] = defaultdict(lambda: _Tally(allocate_shared))
    for slot, key, shared, teamed, amount in session.execute(stmt):
        tallies[int(slot)].add(
            key, shared=bool(shared), teamed=bool(teamed), value=_decimal(amount)
        )
    series: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(buckets))
    for slot, tally in tallies.items():
        if not 0 <= slot < len(buckets):
            continue
        shares = tally.shares()
        for key in set(tally.direct) | set(shares):
            series[key][slot] += tally.direct.get(key, Decimal(0)) + shares.get(key, Decimal(0))
    return CostSeries(by, window, step, currency, buckets, dict(series))
