"""Findings on a real store (SQLite and PostgreSQL): states, remediation times, report, CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

import pytest

from plinth.capabilities.compliance import findings
from plinth.capabilities.compliance.findings import FindingFilter, Observed, Remediations
from plinth.capabilities.compliance.models import ComplianceFinding
from plinth.capabilities.compliance.report import CSV_COLUMNS, build_report, report_csv
from plinth.core.clock import FrozenClock
from plinth.core.errors import Conflict, InvalidInput
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database

POLICY = Remediations(stop_grace=timedelta(hours=24))

WEB = Observed(
    pack="default",
    rule="registries",
    level="deny",
    severity="high",
    message="web runs an image from an unknown registry",
    resource="web",
    environment="prod",
    project="checkout",
    team="payments",
    pack_version="1.0.0",
    fix="use registry.local",
    remediation="stop",
)
DRIFT = replace(WEB, pack="compliance-live", rule="drift", remediation="restore", resource="db")


def _sync(
    database: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    seen: list[Observed],
    **kw: object,
) -> list[tuple[str | None, str]]:
    with database.transaction() as session:
        changes = findings.sync(session, seen, policy=POLICY, ids=ids, clock=clock, **kw)  # type: ignore[arg-type]
        return [(c.before, c.after) for c in changes]


def _all(database: Database) -> dict[str, ComplianceFinding]:
    with database.read() as session:
        rows = list(session.query(ComplianceFinding))
        for row in rows:
            session.expunge(row)
        return {r.rule: r for r in rows}


def test_states_follow_what_scans_see(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    assert _sync(database, clock, ids, [WEB, DRIFT]) == [(None, "open"), (None, "open")]
    rows = _all(database)
    assert rows["registries"].remediation_due == clock.now() + timedelta(hours=24)
    assert rows["drift"].remediation_due == clock.now()
    assert _sync(database, clock, ids, [WEB, DRIFT]) == []  # same facts: nothing changes

    with database.transaction() as session:
        row = findings.require_finding(session, rows["registries"].id)
        change = findings.acknowledge(session, row, actor="ada", note="on it", clock=clock)
        assert change is not None and change.after == "acknowledged"
    assert _sync(database, clock, ids, [WEB, DRIFT]) == []  # acknowledged stays so

    excepted = replace(DRIFT, exception="db-drift-ok", exception_expires=clock.now())
    assert _sync(database, clock, ids, [WEB, excepted]) == [("open", "excepted")]
    assert _all(database)["drift"].exception == "db-drift-ok"
    assert _sync(database, clock, ids, [WEB, DRIFT]) == [("excepted", "open")]

    clock.advance(60)
    assert _sync(database, clock, ids, [DRIFT]) == [("acknowledged", "resolved")]
    assert _all(database)["registries"].resolved_at == clock.now()
    assert _sync(database, clock, ids, [WEB, DRIFT]) == [("resolved", "open")]
    reopened = _all(database)["registries"]
    assert reopened.resolved_at is None
    assert reopened.remediation_due == clock.now() + timedelta(hours=24)  # grace again


def test_unknown_resources_keep_their_findings(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    _sync(database, clock, ids, [WEB, DRIFT])
    changes = _sync(database, clock, ids, [], unknown={("prod", "checkout", "web")})
    assert changes == [("open", "resolved")]
    assert _all(database)["registries"].state == "open"


def test_remediation_off_is_recorded(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    with database.transaction() as session:
        findings.sync(
            session, [WEB], policy=Remediations(enabled=frozenset()), ids=ids, clock=clock
        )
    row = _all(database)["registries"]
    assert row.remediation == "stop" and row.remediation_due is None
    assert row.remediation_detail == "automatic remediation is off"


def test_acknowledge_rules_and_filters(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    _sync(database, clock, ids, [WEB])
    _sync(database, clock, ids, [])
    with database.transaction() as session:
        row = session.query(ComplianceFinding).one()
        with pytest.raises(Conflict):
            findings.acknowledge(session, row, actor="ada", note="", clock=clock)
    with database.read() as session:
        page = findings.list_findings(
            session, FindingFilter(state="resolved", teams=("payments",)), limit=10, page_token=None
        )
        assert [r.rule for r in page.items] == ["registries"]
        none = findings.list_findings(
            session, FindingFilter(teams=("ml-research",)), limit=10, page_token=None
        )
        assert none.items == []
    with pytest.raises(InvalidInput):
        FindingFilter(state="closed").check()


def test_report_counts_exceptions_and_csv(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    formula = replace(WEB, rule="formula", message="=HYPERLINK('http://evil')", resource="api")
    excepted = replace(
        DRIFT, exception="db-drift-ok", exception_expires=clock.now() + timedelta(days=10)
    )
    _sync(database, clock, ids, [WEB, formula, excepted])
    with database.read() as session:
        rows = list(session.query(ComplianceFinding))
        report = build_report(rows, team="payments", environment="prod", now=clock.now())
    assert report["counts"]["total"] == 3
    assert report["counts"]["by_state"] == {
        "open": 2,
        "acknowledged": 0,
        "excepted": 1,
        "resolved": 0,
    }
    assert report["counts"]["by_severity"]["high"] == 3
    assert report["counts"]["matrix"]["high"]["excepted"] == 1
    [exception] = report["exceptions"]
    assert exception["exception"] == "db-drift-ok" and exception["days_left"] == 10
    assert exception["team"] == "payments"
    text = report_csv(report)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert {r["rule"] for r in parsed} == {"registries", "formula", "drift"}
    [bad] = [r for r in parsed if r["rule"] == "formula"]
    assert bad["message"].startswith("'=")  # never a live formula in a spreadsheet
    assert all(r["team"] == "payments" for r in parsed)
