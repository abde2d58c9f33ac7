"""Spend anomalies: a team's day against the team's own baseline.

The rule (documented in docs/finops-metering.md):

- a team's *daily spend* is its direct cost in the ledger for one UTC day (the
  shared pool is left out, so one team's spike never flags the others);
- its *baseline* is the mean and (population) standard deviation of its daily
  spend over the ``baseline_days`` (14) days before that day, days without
  spend counting as zero;
- the day is an anomaly when spend > mean + ``k``·stddev (k = 3) **and**
  spend - mean ≥ ``floor`` (1.00 in the report currency), and the team spent
  something on at least ``min_history_days`` (3) of the baseline days (a team
  with no history has no baseline yet);
- today counts too, with its spend so far: a spike shows before the day ends.

An anomaly is recorded once per team and day in ``cost_anomalies`` — the
team's event feed that the API, CLI and portal read; seeing it again only
raises the recorded spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.ledger import UNATTRIBUTED, cost_series, money
from plinth.capabilities.finops.metering import SHARED_TEAM
from plinth.capabilities.finops.metering_models import CostAnomaly
from plinth.capabilities.finops.windows import Window
from plinth.core.clock import Clock

__all__ = ["Anomaly", "AnomalyRule", "anomaly_as_dict", "detect", "list_anomalies", "record"]

DAY = timedelta(days=1)


@dataclass(frozen=True)
class AnomalyRule:
    """When a day's spend is an anomaly for a team."""

    baseline_days: int = 14
    k: Decimal = Decimal(3)
    floor: Decimal = Decimal("1.00")
    min_history_days: int = 3


@dataclass(frozen=True)
class Anomaly:
    """A team's day that broke its baseline."""

    team: str
    day: datetime
    spend: Decimal
    mean: Decimal
    stddev: Decimal
    threshold: Decimal
    currency: str
    baseline_days: int = 14

    @property
    def message(self) -> str:
        """Return a sentence for the owning team."""
        return (
            f"team {self.team} spent {money(self.spend)} {self.currency} on "
            f"{self.day.date().isoformat()}, above its threshold of {money(self.threshold)} "
            f"({self.baseline_days}-day mean {money(self.mean)}, stddev {money(self.stddev)})"
        )


def _baseline(values: list[Decimal]) -> tuple[Decimal, Decimal]:
    count = Decimal(len(values))
    mean = sum(values, Decimal(0)) / count
    variance = sum(((v - mean) ** 2 for v in values), Decimal(0)) / count
    return mean, variance.sqrt()


def _judge(
    team: str,
    day: datetime,
    spend: Decimal,
    history: list[Decimal],
    rule: AnomalyRule,
    currency: str,
) -> Anomaly | None:
    if sum(1 for v in history if v > 0) < rule.min_history_days:
        return None
    mean, stddev = _baseline(history)
    threshold = max(mean + rule.k * stddev, mean + rule.floor)
    if spend <= threshold:
        return None
    q = Decimal("0.000001")
    return Anomaly(
        team,
        day,
        spend,
        mean.quantize(q),
        stddev.quantize(q),
        threshold.quantize(q),
        currency,
        rule.baseline_days,
    )


def detect(
    session: Session,
    *,
    now: datetime,
    rule: AnomalyRule | None = None,
    days: int = 1,
    currency: str = "USD",
) -> list[Anomaly]:
    """Return the anomalies of the last ``days`` UTC days (today, so far, included)."""
    rule = rule or AnomalyRule()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - (rule.baseline_days + days - 1) * DAY
    window = Window(start, max(now, today + timedelta(seconds=1)))
    series = cost_series(
        session, by="team", window=window, step=DAY, currency=currency, allocate_shared=False
    )
    found: list[Anomaly] = []
    for team, points in sorted(series.series.items()):
        if team in (UNATTRIBUTED, SHARED_TEAM):
            continue
        for offset in range(days):
            index = rule.baseline_days + offset
            if index >= len(points):
                continue
            history = points[index - rule.baseline_days : index]
            day = series.buckets[index]
            anomaly = _judge(team, day, points[index], history, rule, currency)
            if anomaly is not None:
                found.append(anomaly)
    return found


def record(session: Session, anomalies: list[Anomaly], *, clock: Clock) -> list[Anomaly]:
    """Record anomalies as events of their teams; return those not recorded before."""
    new: list[Anomaly] = []
    now = clock.now()
    for anomaly in anomalies:
        row = session.scalar(
            select(CostAnomaly).where(
                CostAnomaly.team == anomaly.team, CostAnomaly.day == anomaly.day
            )
        )
        if row is None:
            session.add(
                CostAnomaly(
                    team=anomaly.team,
                    day=anomaly.day,
                    spend=anomaly.spend,
                    baseline_mean=anomaly.mean,
                    baseline_stddev=anomaly.stddev,
                    threshold=anomaly.threshold,
                    currency=anomaly.currency,
                    message=anomaly.message,
                    detected_at=now,
                    updated_at=now,
                )
            )
            new.append(anomaly)
        elif anomaly.spend > row.spend:
            row.spend, row.message, row.updated_at = anomaly.spend, anomaly.message, now
    session.flush()
    return new


def list_anomalies(
    session: Session, *, window: Window, team: str | None = None, limit: int = 500
) -> list[CostAnomaly]:
    """Return recorded anomalies whose day falls in ``window``, newest first."""
    stmt = select(CostAnomaly).where(
        CostAnomaly.day >= window.start - DAY, CostAnomaly.day < window.end
    )
    if team:
        stmt = stmt.where(CostAnomaly.team == team)
    stmt = stmt.order_by(CostAnomaly.day.desc(), CostAnomaly.team).limit(limit)
    return list(session.scalars(stmt))


def anomaly_as_dict(row: CostAnomaly) -> dict[str, Any]:
    """Return a recorded anomaly as JSON data."""
    return {
        "id": row.id,
        "team": row.team,
        "day": row.day.date().isoformat(),
        "spend": money(row.spend),
        "baseline_mean": money(row.baseline_mean),
        "baseline_stddev": money(row.baseline_stddev),
        "threshold": money(row.threshold),
        "currency": row.currency,
        "message": row.message,
        "detected_at": row.detected_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
