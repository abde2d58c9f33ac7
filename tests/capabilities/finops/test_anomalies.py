"""Spend anomalies: a team's day against its own 14-day baseline, recorded once as an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tests.capabilities.finops.metering_world import add_entry
from tests.infrastructure.store import reuse

from plinth.capabilities.finops import anomalies
from plinth.capabilities.finops.anomalies import AnomalyRule
from plinth.capabilities.finops.windows import parse_window
from plinth.core.clock import FrozenClock
from plinth.infrastructure.store.db import Database

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
TODAY = datetime(2026, 11, 28, tzinfo=UTC)


def history(database: Database, team: str, daily: list[str], *, today: str | None) -> None:
    """Write one cost row per past day (oldest first) and, if given, today's spend so far."""
    with database.transaction() as session:
        for back, cost in enumerate(reversed(daily), start=1):
            add_entry(
                session, at=TODAY - timedelta(days=back) + timedelta(hours=9), cost=cost, team=team
            )
        if today is not None:
            add_entry(session, at=TODAY + timedelta(hours=1), cost=today, team=team)


def detect(database: Database, **kw: object) -> list[anomalies.Anomaly]:
    with database.read() as session:
        return anomalies.detect(session, now=NOW, **kw)  # type: ignore[arg-type]


STEADY = ["10", "11", "9", "10", "12", "10", "9", "11", "10", "10", "11", "9", "10", "10"]


def test_a_spike_against_the_teams_own_baseline_is_an_anomaly(database: Database) -> None:
    history(database, "payments", STEADY, today="40")
    # Spends more, but within its own normal swing (mean 100, stddev 10: threshold 130).
    history(database, "ml-research", ["90", "110"] * 7, today="125")
    [found] = detect(database)
    assert (found.team, found.day, found.spend) == ("payments", TODAY, Decimal(40))
    assert found.mean == Decimal("10.142857")
    assert found.threshold == pytest.approx(found.mean + 3 * found.stddev, abs=Decimal("0.00001"))
    assert "team payments spent 40 USD on 2026-11-28" in found.message


def test_ordinary_days_and_small_amounts_are_not_anomalies(database: Database) -> None:
    history(database, "payments", STEADY, today="12")
    # Tiny spend: ten times its baseline, but under the absolute floor of 1.00 above the mean.
    history(database, "ml-research", ["0.01"] * 14, today="0.5")
    assert detect(database) == []


def test_a_team_without_history_has_no_baseline_yet(database: Database) -> None:
    history(database, "payments", ["0"] * 12 + ["5", "5"], today="500")
    assert detect(database) == []
    assert detect(database, rule=AnomalyRule(min_history_days=2)) != []


def test_past_days_can_be_examined(database: Database) -> None:
    history(database, "payments", [*STEADY, "60", "10"], today=None)
    found = detect(database, days=3)
    assert [(a.team, a.day) for a in found] == [("payments", TODAY - timedelta(days=2))]


def test_anomalies_are_recorded_once_per_team_and_day(
    database: Database, clock: FrozenClock
) -> None:
    history(database, "payments", STEADY, today="40")
    with database.transaction() as session:
        first = anomalies.record(session, anomalies.detect(session, now=NOW), clock=clock)
    history(database, "payments", [], today="5")  # the day goes on: 45 now
    with database.transaction() as session:
        again = anomalies.record(session, anomalies.detect(session, now=NOW), clock=clock)
    assert len(first) == 1 and again == []
    with database.read() as session:
        rows = anomalies.list_anomalies(session, window=parse_window("7d", now=NOW))
        listed = [anomalies.anomaly_as_dict(r) for r in rows]
        other = anomalies.list_anomalies(
            session, window=parse_window("7d", now=NOW), team="ml-research"
        )
    assert [(a["team"], a["day"], a["spend"]) for a in listed] == [("payments", "2026-11-28", "45")]
    assert other == []
