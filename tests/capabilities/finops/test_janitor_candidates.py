"""The janitor's findings: idle, expired TTL and orphans, ranked by monthly cost (both stores)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import delete
from tests.capabilities.finops.janitor_world import meter, organisation, price_local, workload
from tests.infrastructure.store import reuse

from plinth.capabilities.finops.janitor import (
    Candidate,
    Finding,
    JanitorPolicy,
    find_candidates,
    format_window,
    mark_text,
)
from plinth.capabilities.identity.models import ProjectRow
from plinth.core.clock import FrozenClock
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url

WEEK = timedelta(days=7)


def candidates(database: Database, clock: FrozenClock, **kw: object) -> list[Candidate]:
    """Return the candidates at the clock's time."""
    with database.read() as session:
        return find_candidates(session, now=clock.now(), **kw)  # type: ignore[arg-type]


def setup(database: Database, ids: SequentialIds, clock: FrozenClock) -> None:
    """The organisation and the on-prem prices."""
    with database.transaction() as session:
        organisation(session, ids=ids, clock=clock)
        price_local(session, ids=ids, clock=clock)


def test_idle_services_are_found_and_busy_ones_are_not(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    start = clock.now() - WEEK
    with database.transaction() as session:
        idle = workload(session, "idle", ids=ids, clock=clock)
        busy = workload(session, "busy", ids=ids, clock=clock)
        meter(session, idle, start=start, hours=168, cpu=0.004)
        meter(session, busy, start=start, hours=168, cpu=[0.01, 0.4])
    found = candidates(database, clock)
    assert [c.workload for c in found] == ["idle"]
    (finding,) = found[0].findings
    assert finding.kind == "idle"
    assert finding.detail == "CPU used 0.8% of its request over the last 7d"
    assert found[0].utilisation is not None and abs(found[0].utilisation - 0.008) < 1e-9
    assert found[0].team == "payments" and found[0].actionable


def test_too_little_history_is_not_idle_and_the_threshold_is_configurable(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    with database.transaction() as session:
        fresh = workload(session, "fresh", ids=ids, clock=clock)
        meter(session, fresh, start=clock.now() - timedelta(days=1), hours=24, cpu=0.0)
        quiet = workload(session, "quiet", ids=ids, clock=clock)
        meter(session, quiet, start=clock.now() - WEEK, hours=168, cpu=0.05)  # 10 %
    assert candidates(database, clock) == []
    strict = JanitorPolicy(idle_threshold=Decimal("0.2"), min_coverage=Decimal("0.1"))
    assert {c.workload for c in candidates(database, clock, policy=strict)} == {"fresh", "quiet"}


def test_jobs_and_stopped_services_are_never_idle_and_no_request_uses_the_default(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    start = clock.now() - WEEK
    with database.transaction() as session:
        job = workload(session, "nightly", ids=ids, clock=clock, type_name="job")
        stopped = workload(
            session, "parked", ids=ids, clock=clock, annotations={"plinth.dev/stopped": "true"}
        )
        bare = workload(session, "bare", ids=ids, clock=clock, cpu=None)
        for record in (job, stopped):
            meter(session, record, start=start, hours=168, cpu=0.0)
        meter(session, bare, start=start, hours=168, cpu=0.002, requested_cpu=None)
    found = candidates(database, clock)
    assert [c.workload for c in found] == ["bare"]
    assert found[0].utilisation is not None and abs(found[0].utilisation - 0.02) < 1e-9


def test_expired_ttls(database: Database, ids: SequentialIds, clock: FrozenClock) -> None:
    setup(database, ids, clock)
    with database.transaction() as session:
        workload(session, "preview", ids=ids, clock=clock, annotations={"plinth.dev/ttl": "1d"})
        workload(
            session,
            "demo",
            ids=ids,
            clock=clock,
            annotations={"plinth.dev/ttl": "2026-11-28T12:00:00+02:00"},
        )
        workload(session, "keep", ids=ids, clock=clock, annotations={"plinth.dev/ttl": "2w"})
    now = candidates(database, clock)
    assert [c.workload for c in now] == ["demo"]
    assert now[0].findings == (
        Finding("ttl", "TTL 2026-11-28T12:00:00+02:00 expired 2026-11-28 10:00 UTC"),
    )
    clock.advance(2 * 86400)
    later = {c.workload: c for c in candidates(database, clock)}
    assert set(later) == {"demo", "preview"}
    assert later["preview"].expires_at == clock.now() - timedelta(days=1)


def test_a_bad_stored_ttl_is_noted_not_fatal(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    with database.transaction() as session:
        old = workload(session, "old", ids=ids, clock=clock, annotations={"plinth.dev/ttl": "soon"})
        meter(session, old, start=clock.now() - WEEK, hours=168, cpu=0.0)
    (found,) = candidates(database, clock)
    assert [f.kind for f in found.findings] == ["idle"]
    assert "plinth.dev/ttl 'soon'" in found.notes[0]


def test_orphans_are_reported_but_not_acted_on(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    with database.transaction() as session:
        workload(session, "left", ids=ids, clock=clock, project="closed-shop")
        workload(session, "home", ids=ids, clock=clock)
    (found,) = candidates(database, clock)
    assert found.workload == "left" and found.team == ""
    assert found.findings[0].kind == "orphan"
    assert not found.actionable and "recreate the project" in found.why_not
    with database.transaction() as session:
        session.execute(delete(ProjectRow).where(ProjectRow.name == "checkout"))
    assert {c.workload for c in candidates(database, clock)} == {"left", "home"}


def test_ranking_by_monthly_cost_estimate_then_ledger_then_unknown(
    database: Database, ids: SequentialIds, clock: FrozenClock
) -> None:
    setup(database, ids, clock)
    ttl = {"plinth.dev/ttl": "2026-01-01T00:00:00Z"}
    with database.transaction() as session:
        workload(session, "small", ids=ids, clock=clock, cpu="250m", annotations=ttl)
        workload(session, "large", ids=ids, clock=clock, cpu="4", memory="8Gi", annotations=ttl)
        billed = workload(
            session, "billed", ids=ids, clock=clock, annotations=ttl, provider="elsewhere"
        )
        meter(session, billed, start=clock.now() - timedelta(days=2), hours=48, cpu=0.0)
        workload(session, "unpriced", ids=ids, clock=clock, annotations=ttl, provider="other")
        workload(session, "app-web", ids=ids, clock=clock, annotations=ttl, owner="shop", cpu="1")
    found = candidates(database, clock)
    assert [c.workload for c in found] == ["large", "app-web", "small", "billed", "unpriced"]
    large = found[0]
    expected = (4 * Decimal("0.03") + 8 * Decimal("0.004")) * 730
    assert (large.monthly_cost, large.cost_basis, large.currency) == (expected, "estimate", "USD")
    assert found[3].cost_basis == "ledger-30d"
    assert found[3].monthly_cost == Decimal("0.5") * 48 * Decimal("0.03")
    assert (found[4].monthly_cost, found[4].cost_basis) == (None, "none")
    assert not found[1].actionable and "application 'shop'" in found[1].why_not
    assert found[0].as_dict()["monthly_cost"] == "110.96"


def test_scoping_and_texts(database: Database, ids: SequentialIds, clock: FrozenClock) -> None:
    setup(database, ids, clock)
    with database.transaction() as session:
        workload(session, "x", ids=ids, clock=clock, annotations={"plinth.dev/ttl": "1s"})
    clock.advance(5)
    assert len(candidates(database, clock, environment="dev", project="checkout")) == 1
    assert candidates(database, clock, environment="prod") == []
    findings = [Finding("idle", "quiet"), Finding("ttl", "over")]
    assert mark_text(findings, clock.now()) == "idle: quiet, ttl: over; 2026-11-28"
    assert [format_window(timedelta(seconds=s)) for s in (604800, 7200, 90, 60)] == [
        "7d",
        "2h",
        "90s",
        "1m",
    ]
