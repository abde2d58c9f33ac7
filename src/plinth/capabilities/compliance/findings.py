"""Findings: upserting what a compliance scan saw, their states, listing and acknowledging.

A finding is identified by its fingerprint (pack, rule, environment, project, resource),
so the same violation seen by every scan is one row. States:

- ``open``: seen by the last scan and not covered by an exception;
- ``acknowledged``: its owner (or security) has seen it; stays so while it is seen;
- ``excepted``: covered by a live PolicyException (back to open when that expires);
- ``resolved``: no longer seen (fixed, resource gone, or the rule removed); reopens
  when it is seen again.

Every change of state is returned as a :class:`Transition` for the audit chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.compliance.models import FINDING_STATES, ComplianceFinding
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, InvalidInput, NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.pagination import Page, paginate

__all__ = [
    "REMEDIATIONS",
    "SEVERITIES",
    "FindingFilter",
    "Observed",
    "Transition",
    "acknowledge",
    "finding_as_dict",
    "fingerprint",
    "list_findings",
    "require_finding",
    "select_findings",
    "sync",
]

SEVERITIES = ("critical", "high", "medium", "low")
REMEDIATIONS = ("restore", "rotate-secret", "stop")


def fingerprint(pack: str, rule: str, environment: str, project: str, resource: str) -> str:
    """Return the identity of a finding: SHA-256 over its five coordinates."""
    text = "\x1f".join((pack, rule, environment, project, resource))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Observed:
    """One policy result on one live resource, as a scan saw it."""

    pack: str
    rule: str
    level: str
    severity: str
    message: str
    resource: str
    environment: str
    project: str
    team: str
    pack_version: str = ""
    fix: str = ""
    remediation: str = ""
    exception: str = ""
    exception_expires: datetime | None = None

    @property
    def fingerprint(self) -> str:
        """The finding this result belongs to."""
        return fingerprint(self.pack, self.rule, self.environment, self.project, self.resource)


@dataclass(frozen=True)
class Transition:
    """A finding changed state: what the audit chain records."""

    finding_id: str
    before: str | None
    after: str
    subject: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Remediations:
    """Which remediations run automatically, and how long a stop waits."""

    enabled: frozenset[str] = frozenset(REMEDIATIONS)
    stop_grace: timedelta = timedelta(hours=24)

    def due(self, name: str, now: datetime) -> datetime | None:
        """Return when a remediation of that name is due (None: not automatic)."""
        if name not in self.enabled:
            return None
        return now + self.stop_grace if name == "stop" else now


__all__ += ["Remediations"]


def _subject(row: ComplianceFinding) -> str:
    return f"finding/{row.id}"


def _facts(row: ComplianceFinding) -> dict[str, Any]:
    return {
        "rule": f"{row.pack}/{row.rule}",
        "resource": row.resource,
        "environment": row.environment,
        "project": row.project,
        "team": row.team,
        "severity": row.severity,
    }


def _refresh(row: ComplianceFinding, seen: Observed, now: datetime) -> None:
    row.pack_version, row.level, row.severity = seen.pack_version, seen.level, seen.severity
    row.message, row.fix, row.team = seen.message, seen.fix, seen.team
    row.exception, row.exception_expires = seen.exception, seen.exception_expires
    row.last_seen = now


def _arm(row: ComplianceFinding, seen: Observed, now: datetime, policy: Remediations) -> None:
    """Set the remediation of a finding that (re)opens."""
    row.remediation = seen.remediation if seen.remediation in REMEDIATIONS else ""
    row.remediation_due = policy.due(row.remediation, now) if row.remediation else None
    row.remediated_at = None
    row.remediation_detail = (
        "" if not row.remediation or row.remediation_due else "automatic remediation is off"
    )


def _target(row: ComplianceFinding | None, seen: Observed) -> str:
    if seen.exception:
        return "excepted"
    if row is not None and row.state == "acknowledged":
        return "acknowledged"
    return "open"


def sync(
    session: Session,
    seen: Sequence[Observed],
    *,
    unknown: Collection[tuple[str, str, str]] = (),
    policy: Remediations,
    ids: IdFactory,
    clock: Clock,
) -> list[Transition]:
    """Upsert what a full scan saw; resolve the rest (but not on resources in ``unknown``).

    ``unknown`` holds ``(environment, project, resource)`` of resources the scan could
    not look at: their findings stay as they are.
    """
    now = clock.now()
    rows = {r.fingerprint: r for r in session.scalars(select(ComplianceFinding))}
    changes: list[Transition] = []
    current: dict[str, Observed] = {s.fingerprint: s for s in seen}
    for key, item in current.items():
        row = rows.get(key)
        before = None if row is None else row.state
        after = _target(row, item)
        if row is None:
            row = ComplianceFinding(
                id=ids.new("fnd"),
                fingerprint=key,
                pack=item.pack,
                rule=item.rule,
                resource=item.resource,
                environment=item.environment,
                project=item.project,
                first_seen=now,
                resolved_at=None,
                notes="",
            )
            session.add(row)
        _refresh(row, item, now)
        if before == after:
            continue
        if after == "open" and before in (None, "resolved", "excepted"):
            _arm(row, item, now, policy)
        row.state, row.resolved_at = after, None
        data = _facts(row) | {"message": item.message}
        if after == "excepted":
            data |= {"exception": item.exception}
        changes.append(Transition(row.id, before, after, _subject(row), data))
    for key, row in rows.items():
        where = (row.environment, row.project, row.resource)
        if key in current or row.state == "resolved" or where in unknown:
            continue
        before, row.state, row.resolved_at = row.state, "resolved", now
        if row.remediation_due is not None and row.remediated_at is None:
            row.remediation_due = None
        changes.append(Transition(row.id, before, "resolved", _subject(row), _facts(row)))
    session.flush()
    return changes


@dataclass(frozen=True)
class FindingFilter:
    """What to list: every field narrows; ``teams`` (None: all) is what the reader may see."""

    team: str | None = None
    environment: str | None = None
    project: str | None = None
    state: str | None = None
    severity: str | None = None
    resource: str | None = None
    teams: tuple[str, ...] | None = None

    def check(self) -> None:
        """Raise InvalidInput on an unknown state or severity."""
        if self.state and self.state not in FINDING_STATES:
            raise InvalidInput(f"state must be one of {', '.join(FINDING_STATES)}")
        if self.severity and self.severity not in SEVERITIES:
            raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}")


def select_findings(flt: FindingFilter) -> Any:
    """Return the SELECT of the findings a filter names."""
    flt.check()
    stmt = select(ComplianceFinding)
    for column, value in (
        (ComplianceFinding.team, flt.team),
        (ComplianceFinding.environment, flt.environment),
        (ComplianceFinding.project, flt.project),
        (ComplianceFinding.state, flt.state),
        (ComplianceFinding.severity, flt.severity),
        (ComplianceFinding.resource, flt.resource),
    ):
        if value:
            stmt = stmt.where(column == value)
    if flt.teams is not None:
        stmt = stmt.where(ComplianceFinding.team.in_(flt.teams))
    return stmt


def list_findings(
    session: Session, flt: FindingFilter, *, limit: int, page_token: str | None
) -> Page[ComplianceFinding]:
    """Return a page of findings, in id order."""
    return paginate(
        session, select_findings(flt), ComplianceFinding.id, limit=limit, page_token=page_token
    )


def require_finding(session: Session, finding_id: str) -> ComplianceFinding:
    """Return one finding, or raise NotFound."""
    row = session.get(ComplianceFinding, finding_id)
    if row is None:
        raise NotFound(f"no compliance finding {finding_id!r}")
    return row


def acknowledge(
    session: Session, row: ComplianceFinding, *, actor: str, note: str, clock: Clock
) -> Transition | None:
    """Acknowledge an open finding (adding the note); None when it already was."""
    if row.state in ("resolved", "excepted"):
        raise Conflict(f"finding {row.id} is {row.state}: only open findings are acknowledged")
    stamp = f"{clock.now().isoformat()} {actor}: {note.strip() or 'acknowledged'}"
    row.notes = f"{row.notes}\n{stamp}" if row.notes else stamp
    if row.state == "acknowledged":
        return None
    row.state = "acknowledged"
    return Transition(row.id, "open", "acknowledged", _subject(row), _facts(row) | {"note": note})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def finding_as_dict(row: ComplianceFinding) -> dict[str, Any]:
    """Return a finding as JSON data (owner: the project's team)."""
    return {
        "id": row.id,
        "pack": row.pack,
        "pack_version": row.pack_version,
        "rule": row.rule,
        "severity": row.severity,
        "level": row.level,
        "message": row.message,
        "fix": row.fix or None,
        "resource": row.resource,
        "environment": row.environment,
        "project": row.project,
        "team": row.team,
        "owner": row.team,
        "state": row.state,
        "first_seen": _iso(row.first_seen),
        "last_seen": _iso(row.last_seen),
        "resolved_at": _iso(row.resolved_at),
        "remediation": row.remediation or None,
        "remediation_due": _iso(row.remediation_due),
        "remediated_at": _iso(row.remediated_at),
        "remediation_detail": row.remediation_detail or None,
        "exception": row.exception or None,
        "exception_expires": _iso(row.exception_expires),
        "notes": row.notes or None,
    }
