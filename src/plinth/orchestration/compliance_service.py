"""``platform.compliance``: findings, acknowledging, scans on demand and the report.

Who sees what: security auditors, platform engineers and organisation-wide viewers
see every team's findings; everyone else sees the findings of their own teams.
Acknowledging needs security, a platform engineer, or a member of the owning team.
Scans on demand need security or a platform engineer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from plinth.capabilities.audit import service as audit
from plinth.capabilities.compliance import findings
from plinth.capabilities.compliance.findings import FindingFilter, Remediations
from plinth.capabilities.compliance.report import build_report, report_csv
from plinth.capabilities.identity.schemas import Actor, Role
from plinth.core.clock import Clock
from plinth.core.config import Settings
from plinth.core.errors import Forbidden, InvalidInput
from plinth.infrastructure.store.db import Database
from plinth.orchestration.compliance import ComplianceLoop, ComplianceScanner
from plinth.orchestration.compliance_policies import EnginePolicies
from plinth.orchestration.compliance_remediation import (
    Action,
    Remediator,
    restore_by_queue,
    rotate_via,
    stop_through_plan,
)

__all__ = [
    "REPORT_FORMATS",
    "Compliance",
    "build_compliance",
    "remediations_from",
    "visible_teams",
]

REPORT_FORMATS = ("json", "csv")
_SEE_ALL = (Role.SECURITY_AUDITOR, Role.PLATFORM_ENGINEER, Role.VIEWER)
_OPERATE = (Role.SECURITY_AUDITOR, Role.PLATFORM_ENGINEER)


def _org_wide(actor: Actor, roles: tuple[Role, ...]) -> bool:
    return any(g.team is None and g.role in roles for g in actor.grants)


def visible_teams(actor: Actor) -> tuple[str, ...] | None:
    """Return the teams whose findings ``actor`` may read (None: every team)."""
    if actor.kind == "system" or _org_wide(actor, _SEE_ALL):
        return None
    return tuple(actor.teams)


class Compliance:
    """The compliance facade the API, CLI and portal call."""

    def __init__(
        self, *, db: Database, clock: Clock, scanner: ComplianceScanner, interval: float
    ) -> None:
        self.db, self.clock, self.scanner = db, clock, scanner
        self.loop = ComplianceLoop(self.scanner.scan, interval=interval)

    def start(self) -> None:
        """Start the periodic scans."""
        self.loop.start()

    def stop(self) -> None:
        """Stop the periodic scans."""
        self.loop.stop()

    def scan(self, actor: Actor | None = None) -> dict[str, Any]:
        """Scan now (security or platform engineers); return what changed."""
        if actor is not None and not (actor.kind == "system" or _org_wide(actor, _OPERATE)):
            raise Forbidden("only security auditors and platform engineers start a scan")
        return self.scanner.scan().as_dict()

    def findings(
        self, actor: Actor, flt: FindingFilter, *, limit: int = 50, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Return a page of the findings ``actor`` may see, narrowed by ``flt``."""
        flt = replace(flt, teams=visible_teams(actor))
        with self.db.read() as session:
            page = findings.list_findings(session, flt, limit=limit, page_token=page_token)
            return [findings.finding_as_dict(r) for r in page.items], page.next_page_token

    def finding(self, actor: Actor, finding_id: str) -> dict[str, Any]:
        """Return one finding ``actor`` may see."""
        with self.db.read() as session:
            row = findings.require_finding(session, finding_id)
            _check_visible(actor, row.team, finding_id)
            return findings.finding_as_dict(row)

    def acknowledge(self, finding_id: str, actor: Actor, note: str = "") -> dict[str, Any]:
        """Acknowledge an open finding with a note; audited."""
        if len(note) > 2000:
            raise InvalidInput("a note is at most 2000 characters")
        with self.db.transaction() as session:
            audit.lock_chain(session)
            row = findings.require_finding(session, finding_id)
            _check_visible(actor, row.team, finding_id)
            owner = row.team in actor.teams and actor.kind != "agent"
            if not (owner or _org_wide(actor, _OPERATE)):
                raise Forbidden(
                    f"only team {row.team!r}, security auditors or platform engineers "
                    "acknowledge this finding"
                )
            change = findings.acknowledge(
                session, row, actor=actor.name, note=note, clock=self.clock
            )
            if change is not None:
                audit.append(
                    session,
                    actor=actor.name,
                    action="compliance.finding.acknowledged",
                    subject=change.subject,
                    data=change.data | {"from": change.before},
                    clock=self.clock,
                )
            return findings.finding_as_dict(row)

    def report(
        self,
        actor: Actor,
        *,
        team: str | None = None,
        environment: str | None = None,
        format: str = "json",
        include_resolved: bool = False,
    ) -> dict[str, Any] | str:
        """Return the report of a team and/or environment, as data (json) or CSV text."""
        if format not in REPORT_FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(REPORT_FORMATS)}")
        teams = visible_teams(actor)
        if team and teams is not None and team not in teams:
            raise Forbidden(f"{actor.name} may not read team {team!r}'s compliance report")
        flt = FindingFilter(team=team, environment=environment, teams=teams)
        with self.db.read() as session:
            rows = list(session.scalars(findings.select_findings(flt)))
            data = build_report(
                rows,
                team=team,
                environment=environment,
                now=self.clock.now(),
                include_resolved=include_resolved,
            )
        return report_csv(data) if format == "csv" else data


def _check_visible(actor: Actor, team: str, finding_id: str) -> None:
    teams = visible_teams(actor)
    if teams is not None and team not in teams:
        raise Forbidden(f"{actor.name} may not read finding {finding_id!r}")


def remediations_from(settings: Settings) -> Remediations:
    """Return the remediation settings; raise InvalidInput on an unknown remediation."""
    unknown = sorted(set(settings.compliance_remediation) - set(findings.REMEDIATIONS))
    if unknown:
        raise InvalidInput(
            f"compliance_remediation: unknown {', '.join(unknown)} "
            f"(known: {', '.join(findings.REMEDIATIONS)})"
        )
    return Remediations(
        enabled=frozenset(settings.compliance_remediation),
        stop_grace=timedelta(seconds=settings.compliance_stop_grace_s),
    )


def build_compliance(platform: Any) -> Compliance:
    """Wire compliance to a platform: its store, providers, reconciler queue and one path."""
    settings: Settings = platform.settings
    actions: dict[str, Action] = {
        "restore": restore_by_queue(platform.queue.enqueue),
        "rotate-secret": rotate_via(platform),
        "stop": stop_through_plan(platform),
    }
    remediator = Remediator(db=platform.db, clock=platform.clock, actions=actions)
    scanner = ComplianceScanner(
        db=platform.db,
        registry=platform.registry,
        policies=EnginePolicies(clock=platform.clock),
        clock=platform.clock,
        ids=platform.ids,
        remediations=remediations_from(settings),
        remediate=remediator.run,
    )
    return Compliance(
        db=platform.db,
        clock=platform.clock,
        scanner=scanner,
        interval=settings.compliance_interval_s,
    )
