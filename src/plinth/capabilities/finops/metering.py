"""Metering: usage samples in, priced and attributed ledger rows out.

A :class:`UsageSample` (``samples.py``) says how much of one dimension (``cpu``, ``memory``,
``gpu.h100``, ``storage``, ``egress``, ``tokens_input``...) something used over
one period. :func:`ingest` turns a batch of samples into ``CostEntry`` rows with
source ``meter``, all or nothing:

- **Attribution** (``attribution.py``): a known resource's cost goes to its
  project's owning team whatever the labels say; anything else by its labels;
  no team means *unattributed*, written with an empty team, never dropped.
- **Cost model.** Per sample, the charged quantity is ``max(requested, used)``
  over its period, in the price unit of the dimension's SKU (``rating.py``);
  ``requested`` comes from the resource's desired spec (``resources.cpu`` /
  ``resources.memory``: Score limits, else requests) or from the sample's own
  ``requested``. The cost is the charged quantity times the unit price.
- **Roll-up.** Samples of the same resource, dimension and labels whose periods
  start in the same UTC hour of one batch are summed into one row covering
  their span (``extra.samples`` counts them; ``extra.used``/``extra.requested``
  keep the two sides of the max).
- **Speed.** One query per batch finds the resources, one the projects' teams;
  rates are looked up once per key; rows go in with one Core bulk insert.

The caller owns the transaction. See docs/finops-metering.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any, Literal, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from plinth.capabilities.finops.attribution import (
    Labels,
    Owner,
    OwnerCache,
    load_owners,
    owner_labels,
    project_teams,
)
from plinth.capabilities.finops.models import CostEntry
from plinth.capabilities.finops.pricebook import PriceBook, Rate
from plinth.capabilities.finops.rating import (
    GIB,
    HOUR,
    IDENTITY,
    Conversion,
    Pricer,
    conversion,
    default_price_type,
)
from plinth.capabilities.finops.samples import (
    MAX_ISSUES,
    MAX_PERIOD_S,
    SAMPLES,
    UsageSample,
    parse_samples,
    timestamp,
)
from plinth.core.clock import Clock
from plinth.core.errors import InvalidInput, Issue, SpecError

__all__ = [
    "MAX_PERIOD_S",
    "SAMPLES",
    "SHARED_TEAM",
    "UsageSample",
    "ingest",
    "parse_samples",
    "rate",
    "record",
]

SHARED_TEAM = "shared"
FUTURE_SKEW = timedelta(minutes=5)
NANO = Decimal("0.000000001")

Unpriced = Literal["reject", "zero"]
_LEDGER = cast(Table, CostEntry.__table__)


@dataclass(frozen=True)
class _Rating:
    """How samples of one key are priced: attribution, rate, unit conversion, reservation."""

    labels: dict[str, str]
    rate: Rate | None
    unpriced: str
    conversion: Conversion
    price_unit: str
    currency: str
    reserved_per_s: float | None  # from the resource's spec, in price units per second


@dataclass
class _Line:
    """One ledger row in the making: the samples of one key whose periods start in one hour."""

    rating: _Rating
    sample: UsageSample
    start: float  # POSIX seconds
    end: float
    used: float = 0.0
    requested: float = 0.0
    charged: float = 0.0
    reserved: bool = False
    samples: int = 0


def _labels(sample: UsageSample, owner: Owner | None, teams: Mapping[str, str]) -> Labels:
    if owner is not None:
        return owner_labels(owner, region=sample.get("region", ""), team=sample.get("team", ""))
    return Labels(
        resource_name=sample.get("resource_name", ""),
        resource_type=sample.get("resource_type", ""),
        provider=sample.get("provider", ""),
        region=sample.get("region", ""),
        environment=sample.get("environment", ""),
        project=sample.get("project", ""),
        team=sample.get("team", "") or teams.get(sample.get("project", ""), ""),
    )


def _reserved_per_s(sample: UsageSample, owner: Owner | None, price_unit: str) -> float | None:
    """Return what the resource's spec reserves of this dimension, per second, in price units."""
    if owner is None:
        return None
    if sample["dimension"] == "cpu" and owner.cpu is not None and price_unit == "vcpu-hour":
        return owner.cpu / HOUR
    if sample["dimension"] == "memory" and owner.memory is not None and price_unit == "gib-hour":
        return owner.memory / GIB / HOUR
    return None


def _rating(
    sample: UsageSample,
    *,
    owner: Owner | None,
    teams: Mapping[str, str],
    pricer: Pricer,
    on_unpriced: Unpriced,
) -> _Rating | str:
    """Return how to price samples like this one, or a message saying why they cannot be."""
    labels = _labels(sample, owner, teams)
    rate = pricer.rate(
        provider=labels.provider,
        region=labels.region,
        resource_type=labels.resource_type,
        dimension=sample["dimension"],
        model=sample.get("model", ""),
        price_type=sample.get("price_type") or default_price_type(labels.provider),
    )
    if isinstance(rate, str):
        if on_unpriced == "reject":
            return rate
        # Unpriced usage is kept at cost 0, in the unit it came in, flagged for a later fix.
        currency = pricer.book.currency
        return _Rating(labels.as_dict(), None, rate, IDENTITY, sample["unit"], currency, None)
    try:
        convert = conversion(sample["unit"], rate.unit)
    except InvalidInput as exc:
        return exc.detail
    reserved = _reserved_per_s(sample, owner, rate.unit)
    return _Rating(labels.as_dict(), rate, "", convert, rate.unit, rate.currency, reserved)


def _add(line: _Line, sample: UsageSample, start: float, end: float) -> None:
    """Add one sample to a line: charged = max(requested, used) over the sample's period."""
    rating = line.rating
    period = sample["period_s"]
    factor, gauge = rating.conversion.factor, rating.conversion.gauge_s
    scale = factor if gauge is None else factor * period / gauge
    used = sample["quantity"] * scale
    requested: float | None = None
    asked = sample.get("requested")
    if asked is not None:
        requested = asked * scale
    elif rating.reserved_per_s is not None:
        requested = rating.reserved_per_s * period
    line.used += used
    if requested is None:
        line.charged += used
    else:
        line.requested += requested
        line.charged += max(used, requested)
        line.reserved = True
    line.samples += 1
    if start < line.start:
        line.start = start
    if end > line.end:
        line.end = end


def _row(line: _Line, now: datetime) -> dict[str, Any]:
    """Return the ledger row of a line."""
    rating, sample = line.rating, line.sample
    amount = rating.rate.amount if rating.rate else Decimal(0)
    quantity = Decimal(repr(line.charged)).quantize(NANO)
    extra: dict[str, Any] = {"samples": line.samples}
    if rating.unpriced:
        extra["unpriced"] = rating.unpriced
    if line.reserved:
        extra["used"] = round(line.used, 9)
        extra["requested"] = round(line.requested, 9)
    return {
        "at": datetime.fromtimestamp(line.start, UTC),
        "period_s": round(line.end - line.start, 6),
        "source": "meter",
        "resource_id": sample.get("resource_id") or "",
        **rating.labels,
        "agent": sample.get("agent", ""),
        "model": sample.get("model", ""),
        "sku": rating.rate.sku if rating.rate else "",
        "dimension": sample["dimension"],
        "quantity": quantity,
        "unit": rating.price_unit,
        "unit_price": amount,
        "cost": (quantity * amount).quantize(NANO),
        "currency": rating.currency,
        "extra": extra,
        "ingested_at": now,
    }


_PLAIN = frozenset({"resource_id", "at", "period_s", "dimension", "quantity", "unit"})


def _key(sample: UsageSample) -> tuple[Any, ...]:
    """Return what makes samples price and attribute alike (their row, within an hour)."""
    if len(sample) <= len(_PLAIN) and sample.keys() <= _PLAIN:
        return (sample.get("resource_id"), sample["dimension"], sample["unit"])
    return (
        sample.get("resource_id"),
        sample["dimension"],
        sample["unit"],
        sample.get("price_type"),
        sample.get("agent", ""),
        sample.get("model", ""),
        sample.get("team", ""),
        sample.get("project", ""),
        sample.get("environment", ""),
        sample.get("resource_type", ""),
        sample.get("provider", ""),
        sample.get("region", ""),
        sample.get("resource_name", ""),
    )


def rate(
    session: Session,
    samples: Sequence[UsageSample],
    *,
    book: PriceBook,
    clock: Clock,
    on_unpriced: Unpriced = "reject",
    path: str = "$.samples",
    owners: OwnerCache | None = None,
) -> list[dict[str, Any]]:
    """Price and attribute a batch of samples; return the ledger rows (nothing is written).

    Only reads: the caller may do this outside the transaction that writes the
    rows (see :func:`record`). Any bad sample raises ``SpecError`` naming each bad
    one (``$.samples[3]``). With ``on_unpriced="zero"`` (the metering loop), a
    sample whose price is unknown becomes a row at cost 0 flagged
    ``extra.unpriced`` instead, so no usage is ever lost. ``owners`` may remember
    resource owners across batches (see ``OwnerCache``).
    """
    if not samples:
        return []
    now = clock.now()
    ids = {r for s in samples if (r := s.get("resource_id"))}
    known = owners.owners(session, ids) if owners else load_owners(session, ids)
    teams = project_teams(
        session, {p for s in samples if (p := s.get("project")) and not s.get("team")}
    )
    pricer = Pricer(book)
    ratings: dict[tuple[Any, ...], _Rating | str] = {}
    lines: dict[tuple[Any, ...], _Line] = {}
    issues: list[Issue] = []
    latest = (now + FUTURE_SKEW).timestamp()
    stamps: dict[str, float | str] = {}
    for n, sample in enumerate(samples):
        key = _key(sample)
        rating = ratings.get(key)
        if rating is None:
            resource_id = sample.get("resource_id")
            owner = known.get(resource_id) if resource_id else None
            rating = _rating(
                sample, owner=owner, teams=teams, pricer=pricer, on_unpriced=on_unpriced
            )
            ratings[key] = rating
        raw = sample["at"]
        start = stamps.get(raw) if isinstance(raw, str) else None
        if start is None:
            start = timestamp(raw)
            if isinstance(raw, str):
                stamps[raw] = start
        if isinstance(rating, str) or isinstance(start, str) or start > latest:
            if isinstance(start, str):
                why, where = start, f"{path}[{n}].at"
            else:
                why = rating if isinstance(rating, str) else "the period starts in the future"
                where = f"{path}[{n}]"
            issues.append(Issue(why, where))
            if len(issues) >= MAX_ISSUES:
                break
            continue
        end = start + sample["period_s"]
        hour = (key, start // HOUR)
        line = lines.get(hour)
        if line is None:
            line = lines[hour] = _Line(rating, sample, start, end)
        _add(line, sample, start, end)
    if issues:
        raise SpecError(issues)
    return [_row(line, now) for line in lines.values()]


def record(session: Session, rows: list[dict[str, Any]]) -> int:
    """Write ledger rows made by :func:`rate` in one bulk insert; return how many."""
    if not rows:
        return 0
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        # A Core insert of plain rows: one executemany, without the ORM's per-object work.
        session.execute(insert(_LEDGER), rows)
        return len(rows)
    # On SQLite, building parameters is a large part of the cost: convert each value
    # with its column type's own bind processor, then one executemany.
    sql, values_of, processors = _sqlite_insert(connection.dialect)
    params = [
        tuple(v if f is None else f(v) for v, f in zip(values_of(row), processors, strict=True))
        for row in rows
    ]
    connection.exec_driver_sql(sql, params)
    return len(rows)


_Insert = tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]], tuple[Any, ...]]
_SQLITE_INSERT: dict[int, _Insert] = {}


def _sqlite_insert(dialect: Any) -> _Insert:
    """Return the INSERT statement, a row's values in order, and each column's processor."""
    found = _SQLITE_INSERT.get(id(dialect))
    if found is None:
        columns = [c for c in _LEDGER.columns if not c.primary_key]
        names = [c.name for c in columns]
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO {_LEDGER.name} ({', '.join(names)}) VALUES ({marks})"
        processors = tuple(c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns)
        found = _SQLITE_INSERT[id(dialect)] = (sql, itemgetter(*names), processors)
    return found


def ingest(
    session: Session,
    samples: Sequence[UsageSample],
    *,
    book: PriceBook,
    clock: Clock,
    on_unpriced: Unpriced = "reject",
    path: str = "$.samples",
) -> int:
    """Price, attribute and write a batch of samples (all or nothing); return the rows written."""
    rows = rate(session, samples, book=book, clock=clock, on_unpriced=on_unpriced, path=path)
    return record(session, rows)
