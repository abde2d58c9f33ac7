"""The ledger's reports: cost by group over windows, unattributed and shared shown, series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tests.capabilities.finops.metering_world import add_entry
from tests.infrastructure.store import reuse

from plinth.capabilities.finops import metering_models  # noqa: F401 - tables on Base
from plinth.capabilities.finops.ledger import allocate, bucket_starts, cost_by, cost_series
from plinth.capabilities.finops.windows import Window, parse_duration, parse_window
from plinth.core.clock import FrozenClock
from plinth.core.errors import InvalidInput
from plinth.infrastructure.store.db import Database

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger(database: Database) -> Database:
    """A ledger with direct, unattributed, shared, old and foreign-currency rows."""
    day = timedelta(days=1)
    with database.transaction() as session:
        add_entry(
            session,
            at=NOW - day,
            cost="30",
            team="payments",
            project="checkout",
            environment="prod",
            resource_type="service",
            resource_id="r1",
            resource_name="web",
        )
        add_entry(
            session,
            at=NOW - 2 * day,
            cost="10",
            team="ml-research",
            project="recommender",
            environment="dev",
            agent="tuner",
            model="gpt-4o",
            resource_type="llm",
        )
        add_entry(session, at=NOW - 3 * day, cost="5", team="", resource_name="orphan-vm")
        add_entry(session, at=NOW - 3 * day, cost="8", team="shared", resource_type="control-plane")
        add_entry(session, at=NOW - 40 * day, cost="1000", team="payments")
        add_entry(session, at=NOW - day, cost="7", team="payments", currency="EUR")
    return database


def test_cost_by_team_shows_unattributed_and_allocates_the_shared_pool(ledger: Database) -> None:
    with ledger.read() as session:
        report = cost_by(session, by="team", window=parse_window("30d", now=NOW))
    data = report.as_dict()
    items = {i["team"]: i for i in data["items"]}
    assert set(items) == {"payments", "ml-research", "unattributed"}
    # 8 of shared cost, split 30:10 between the two teams; nothing to the unattributed group.
    assert items["payments"] == {
        "team": "payments",
        "cost": "36",
        "direct": "30",
        "shared": "6",
        "currency": "USD",
    }
    assert items["ml-research"]["cost"] == "12" and items["ml-research"]["shared"] == "2"
    assert items["unattributed"]["cost"] == "5" and items["unattributed"]["unattributed"]
    assert (data["total"], data["unattributed"], data["shared"]) == ("53", "5", "8")
    assert data["other_currencies"] == {"EUR": "7"}
    assert [i["team"] for i in data["items"]] == ["payments", "ml-research", "unattributed"]


def test_the_shared_pool_can_be_shown_on_its_own_line(ledger: Database) -> None:
    with ledger.read() as session:
        report = cost_by(
            session, by="team", window=parse_window("30d", now=NOW), allocate_shared=False
        )
    items = {i.key: i.cost for i in report.items}
    assert items == {"payments": 30, "ml-research": 10, "unattributed": 5, "shared": 8}
    assert report.total == Decimal(53)


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("project", {"checkout": "36", "recommender": "12", "unattributed": "5"}),
        ("environment", {"prod": "36", "dev": "12", "unattributed": "5"}),
        # The shared pool follows team-attributed cost, whatever the grouping: tuner's 10
        # and the payments team's 30 (no agent) take 2 and 6 of it; the orphan takes none.
        ("agent", {"tuner": "12", "unattributed": "41"}),
        ("model", {"gpt-4o": "12", "unattributed": "41"}),
        ("resource_type", {"service": "36", "llm": "12", "unattributed": "5"}),
    ],
)
def test_cost_by_any_dimension(ledger: Database, by: str, expected: dict[str, str]) -> None:
    with ledger.read() as session:
        report = cost_by(session, by=by, window=parse_window("30d", now=NOW)).as_dict()
    assert {i[by]: i["cost"] for i in report["items"]} == expected
    assert report["total"] == "53"


def test_windows_and_filters_narrow_the_report(ledger: Database) -> None:
    with ledger.read() as session:
        day = cost_by(session, by="team", window=parse_window("36h", now=NOW)).as_dict()
        payments = cost_by(
            session,
            by="resource",
            window=parse_window("60d", now=NOW),
            filters={"team": "payments"},
        ).as_dict()
        lost = cost_by(
            session,
            by="team",
            window=parse_window("30d", now=NOW),
            filters={"team": "unattributed"},
        ).as_dict()
    assert {i["team"]: i["cost"] for i in day["items"]} == {"payments": "30"}
    assert {(i["resource"], i.get("name")) for i in payments["items"]} == {
        ("r1", "web"),
        ("unattributed", None),
    }
    assert payments["total"] == "1030"
    assert lost["total"] == "5"


def test_daily_series_per_team(ledger: Database) -> None:
    window = Window(NOW - timedelta(days=4), NOW)
    with ledger.read() as session:
        series = cost_series(session, by="team", window=window, step=timedelta(days=1))
    data = series.as_dict()
    assert data["buckets"][0] == "2026-11-24T00:00:00+00:00" and len(data["buckets"]) == 5
    lines = {s["team"]: [p["cost"] for p in s["points"]] for s in data["series"]}
    assert lines["payments"] == ["0", "0", "0", "30", "0"]
    # The day's shared cost (8) is split by that day's team-attributed cost: there is none
    # (only the orphan spent), so it stays on its own shared line.
    assert lines["shared"] == ["0", "8", "0", "0", "0"]
    assert lines["unattributed"] == ["0", "5", "0", "0", "0"]
    assert lines["ml-research"] == ["0", "0", "10", "0", "0"]


def test_hourly_buckets_split_at_the_hour(database: Database) -> None:
    with database.transaction() as session:
        add_entry(session, at=NOW - timedelta(minutes=61), cost="1", team="payments")
        add_entry(session, at=NOW - timedelta(minutes=60), cost="2", team="payments")
        add_entry(session, at=NOW - timedelta(minutes=1), cost="4", team="payments")
    with database.read() as session:
        series = cost_series(
            session, by="team", window=parse_window("3h", now=NOW), step=timedelta(hours=1)
        )
    assert series.series["payments"] == [Decimal(0), Decimal(1), Decimal(6)]


def test_allocation_adds_up_exactly() -> None:
    shares = allocate({"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)}, Decimal(10))
    assert sum(shares.values()) == Decimal(10)
    assert allocate({"a": Decimal(0)}, Decimal(3)) == {}


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("30d", timedelta(days=30)),
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("P7D", timedelta(days=7)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT6H", timedelta(hours=30)),
    ],
)
def test_window_durations(text: str, span: timedelta) -> None:
    window = parse_window(text, now=NOW)
    assert window.end == NOW and window.end - window.start == span


def test_window_intervals_and_explicit_bounds() -> None:
    interval = parse_window("2026-11-01T00:00:00Z/2026-11-08T00:00:00+01:00", now=NOW)
    assert interval.end - interval.start == timedelta(days=7) - timedelta(hours=1)
    assert parse_window("2026-11-01T00:00:00Z/P1D", now=NOW).end == datetime(
        2026, 11, 2, tzinfo=UTC
    )
    explicit = parse_window(None, now=NOW, start="2026-11-20T00:00:00Z")
    assert explicit.end == NOW
    ending = parse_window("1d", now=NOW, end="2026-11-10T00:00:00Z")
    assert ending.start == datetime(2026, 11, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "extra", "message"),
    [
        ("thirty days", {}, "is not a duration"),
        ("P1M", {}, "years and months"),
        ("0h", {}, "longer than zero"),
        ("9999d", {}, "longer than 732 days"),
        ("2026-11-01T00:00:00/P1D", {}, "no time zone"),
        ("2026-11-02T00:00:00Z/2026-11-01T00:00:00Z", {}, "before it starts"),
        ("30d", {"start": "2026-11-01T00:00:00Z"}, "either window or start"),
        (None, {"start": "yesterday"}, "not an ISO 8601 timestamp"),
    ],
)
def test_bad_windows_say_what_is_wrong(
    window: str | None, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_window(window, now=NOW, **extra)


def test_bad_groups_and_steps_are_refused(database: Database, clock: FrozenClock) -> None:
    window = parse_window("30d", now=NOW)
    with database.read() as session:
        with pytest.raises(InvalidInput, match="cannot group cost by 'colour'"):
            cost_by(session, by="colour", window=window)
        with pytest.raises(InvalidInput, match="cannot filter cost by 'colour'"):
            cost_by(session, by="team", window=window, filters={"colour": "red"})
    with pytest.raises(InvalidInput, match="at most 2000"):
        bucket_starts(window, parse_duration("1m"))
    with pytest.raises(InvalidInput, match="at least 1 minute"):
        bucket_starts(window, parse_duration("30s"))
