"""Continuous compliance: policies evaluated on live state, findings kept, drift repaired.

A scan reads every resource from the inventory (its desired spec), asks its provider
what is really there (outside any transaction), and evaluates the policy packs on
that live state, one input per environment and project (``kind: "live"``, see
docs/compliance.md). A new Policy document therefore flags resources that already
exist, and a drift (the live resource no longer matches what was applied) is a fact
the packs can deny. Results covered by a live PolicyException become ``excepted``.
Findings are upserted (:mod:`plinth.capabilities.compliance.findings`), every change
of state goes on the audit chain, then due remediations run
(:mod:`plinth.orchestration.compliance_remediation`).

Scans run every ``compliance_interval_s`` seconds in the background and on demand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.compliance import findings
from plinth.capabilities.compliance.findings import Observed, Remediations, Transition
from plinth.capabilities.identity.models import EnvironmentRow, ProjectRow
from plinth.capabilities.identity.service import project_team
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import Clock
from plinth.core.ids import IdFactory
from plinth.infrastructure.providers.base import Observation, Resource
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.infrastructure.store.db import Database

__all__ = [
    "SCANNER",
    "ComplianceLoop",
    "ComplianceScanner",
    "Covered",
    "LivePolicies",
    "ResultLike",
    "ScanSummary",
]

log = logging.getLogger(__name__)
SCANNER = "compliance-scanner"
CONVERGED = ("running", "ready", "succeeded", "scheduled", "stopped")


class ResultLike(Protocol):
    """A policy result (``plinth.capabilities.policy.PolicyResult`` has these fields)."""

    @property
    def pack(self) -> str:
        """The pack the rule belongs to."""
        ...

    @property
    def rule(self) -> str:
        """The rule's name."""
        ...

    @property
    def level(self) -> str:
        """deny, warn or needs_approval."""
        ...

    @property
    def message(self) -> str:
        """What is wrong."""
        ...

    @property
    def resource(self) -> str | None:
        """The resource it is about, if the rule named one."""
        ...

    @property
    def severity(self) -> str:
        """low, medium, high or critical."""
        ...

    @property
    def fix(self) -> str | None:
        """What to change."""
        ...

    @property
    def remediation(self) -> str | None:
        """restore, rotate-secret or stop."""
        ...


@dataclass(frozen=True)
class Covered:
    """A result a live PolicyException covers."""

    result: ResultLike
    exception: str
    expires: datetime | None


class LivePolicies(Protocol):
    """The policy engine as a scan needs it: evaluate live input, apply exceptions."""

    def evaluate(self, session: Session, live: Mapping[str, Any]) -> Sequence[ResultLike]:
        """Return every result of the active packs on one live input."""
        ...

    def except_(
        self, session: Session, results: Sequence[ResultLike], live: Mapping[str, Any]
    ) -> tuple[list[ResultLike], list[Covered]]:
        """Split results into those that stand and those a live exception covers."""
        ...

    def pack_version(self, pack: str) -> str:
        """Return the version of a pack in force ("" when unknown)."""
        ...


@dataclass
class ScanSummary:
    """What one scan did."""

    at: datetime
    resources: int = 0
    unobserved: list[str] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    remediations: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON data."""
        changes: dict[str, int] = {}
        for t in self.transitions:
            changes[t.after] = changes.get(t.after, 0) + 1
        return {
            "at": self.at.isoformat(),
            "resources": self.resources,
            "unobserved": self.unobserved,
            "changes": changes,
            "transitions": [
                {"finding": t.finding_id, "from": t.before, "to": t.after} for t in self.transitions
            ],
            "remediations": self.remediations,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class _Live:
    record: ResourceRecord
    observation: Observation | None


class ComplianceScanner:
    """Evaluates the policy packs on live state and keeps the findings."""

    def __init__(
        self,
        *,
        db: Database,
        registry: ProviderRegistry,
        policies: LivePolicies,
        clock: Clock,
        ids: IdFactory,
        remediations: Remediations,
        remediate: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.db, self.registry, self.policies = db, registry, policies
        self.clock, self.ids, self.remediations = clock, ids, remediations
        self.remediate = remediate
        self._lock = threading.Lock()

    def scan(self) -> ScanSummary:
        """Scan every resource once; one scan at a time."""
        with self._lock:
            summary = ScanSummary(at=self.clock.now())
            live = self._observe(summary)
            seen: list[Observed] = []
            unknown = {
                (r.record.environment, r.record.project, r.record.name)
                for r in live
                if r.observation is None
            }
            with self.db.read() as session:
                for (env, project), group in _scopes(live).items():
                    try:
                        seen.extend(self._evaluate(session, env, project, group))
                    except Exception as exc:
                        summary.errors.append(f"{env}/{project}: {exc}")
                        unknown |= {(env, project, r.record.name) for r in group}
            with self.db.transaction() as session:
                audit.lock_chain(session)
                changes = findings.sync(
                    session,
                    seen,
                    unknown=unknown,
                    policy=self.remediations,
                    ids=self.ids,
                    clock=self.clock,
                )
                _audit(session, changes, self.clock)
            summary.transitions = changes
            if self.remediate is not None:
                summary.remediations = self.remediate()
            return summary

    def _observe(self, summary: ScanSummary) -> list[_Live]:
        with self.db.read() as session:
            records = list(
                session.scalars(
                    select(ResourceRecord)
                    .where(ResourceRecord.deleting.is_(False))
                    .order_by(ResourceRecord.id)
                )
            )
            for record in records:
                session.expunge(record)
        out: list[_Live] = []
        for record in records:
            try:
                provider = self.registry.for_type(record.type)
                resource = Resource(
                    id=record.id,
                    type=record.type,
                    name=record.name,
                    environment=record.environment,
                    project=record.project,
                    spec=record.desired,
                )
                out.append(_Live(record, provider.observe(resource, dict(record.state or {}))))
            except Exception as exc:
                summary.unobserved.append(f"{record.environment}/{record.project}/{record.name}")
                log.info("compliance: cannot observe %s: %s", record.name, exc)
                out.append(_Live(record, None))
        summary.resources = len(records)
        return out

    def _evaluate(
        self, session: Session, env: str, project: str, group: list[_Live]
    ) -> list[Observed]:
        team, live = live_input(session, env, project, [g for g in group if g.observation])
        results = self.policies.evaluate(session, live)
        kept, covered = self.policies.except_(session, results, live)
        names = {g.record.name for g in group}
        version = self.policies.pack_version
        out = [_observed(r, env, project, team, names, version) for r in kept]
        out += [
            _observed(c.result, env, project, team, names, version, c.exception, c.expires)
            for c in covered
        ]
        return [o for o in out if o is not None]


def _scopes(live: list[_Live]) -> dict[tuple[str, str], list[_Live]]:
    out: dict[tuple[str, str], list[_Live]] = {}
    for item in live:
        out.setdefault((item.record.environment, item.record.project), []).append(item)
    return out


def _observed(
    result: ResultLike,
    env: str,
    project: str,
    team: str,
    names: set[str],
    version: Callable[[str], str],
    exception: str = "",
    expires: datetime | None = None,
) -> Observed | None:
    if result.level not in ("deny", "warn", "needs_approval"):
        return None
    resource = result.resource or ""
    if resource and resource not in names:
        resource = ""  # a rule about the scope as a whole
    severity = result.severity if result.severity in findings.SEVERITIES else "medium"
    return Observed(
        pack=result.pack,
        pack_version=version(result.pack),
        rule=result.rule,
        level=result.level,
        severity=severity,
        message=result.message,
        fix=result.fix or "",
        remediation=result.remediation or "",
        resource=resource,
        environment=env,
        project=project,
        team=team,
        exception=exception,
        exception_expires=expires,
    )


def drifted(record: ResourceRecord, observation: Observation) -> bool:
    """True when a resource that was converged no longer matches what was applied."""
    if record.phase not in CONVERGED or record.observed_generation != record.generation:
        return False
    if not observation.exists:
        return True
    return bool(record.applied_digest) and observation.applied_digest != record.applied_digest


def live_input(
    session: Session, env: str, project: str, group: Sequence[Any]
) -> tuple[str, dict[str, Any]]:
    """Return the owning team and the ``kind: "live"`` policy input of one scope."""
    env_row = session.scalars(select(EnvironmentRow).where(EnvironmentRow.name == env)).first()
    project_row = session.scalars(select(ProjectRow).where(ProjectRow.name == project)).first()
    team = project_team(session, project_row) if project_row is not None else ""
    resources = []
    for item in group:
        record, obs = item.record, item.observation
        resources.append(
            {
                "name": record.name,
                "type": record.type,
                "action": "live",
                "workload": record.workload,
                "spec": record.desired,
                "before": None,
                "labels": {},
                "state": dict(obs.state),
                "phase": obs.phase if obs.exists else "absent",
                "healthy": obs.healthy,
                "exists": obs.exists,
                "drift": drifted(record, obs),
            }
        )
    return team, {
        "kind": "live",
        "actor": {"name": SCANNER, "type": "agent", "roles": [], "team": ""},
        "environment": {
            "name": env,
            "tier": env_row.tier if env_row else "",
            "protected": bool(env_row.protected) if env_row else False,
            "region": env_row.region if env_row else "",
        },
        "project": {"name": project, "team": team, "labels": {}},
        "resources": resources,
        "documents": [],
        "cost": {},
        "models": {},
    }


def _audit(session: Session, changes: Sequence[Transition], clock: Clock) -> None:
    now = clock.now()
    entries = [
        audit.Entry(
            at=now,
            actor=SCANNER,
            action=f"compliance.finding.{t.after}",
            subject=t.subject,
            data=t.data | {"from": t.before},
        )
        for t in changes
    ]
    audit.append_many(session, entries)


class ComplianceLoop:
    """Runs a scan every ``interval`` seconds in a background thread."""

    def __init__(self, scan: Callable[[], Any], *, interval: float) -> None:
        self.scan, self.interval = scan, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start scanning (the first scan runs after one interval)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="plinth-compliance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scanning and wait for the scan in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.scan()
            except Exception:
                log.exception("compliance scan failed; trying again next interval")


__all__ += ["drifted", "live_input"]
