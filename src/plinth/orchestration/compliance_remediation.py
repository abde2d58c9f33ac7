"""Automatic remediation of compliance findings whose rule names one, when it is due.

- ``restore``: the desired state is re-applied (the resource is queued for the
  reconciler, which repairs the drift); due at once.
- ``rotate-secret``: the exposed secret is rotated (``platform.secrets``); due at once.
- ``stop``: the workload is stopped through the one path (a plan by the janitor agent
  that sets ``plinth.dev/stopped: "true"``), after the grace period.

Excepted and resolved findings are never remediated; acknowledging does not stop a
remediation (only an exception does). Each attempt is audited and shown on the finding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from plinth.capabilities.audit import service as audit
from plinth.capabilities.compliance.models import ComplianceFinding
from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import Clock
from plinth.infrastructure.store.db import Database
from plinth.integration.importers.lifecycle import ANNOTATION_STOPPED
from plinth.orchestration.janitor import JANITOR_NAME
from plinth.orchestration.janitor_path import JanitorPath, PlatformLike, with_annotations

__all__ = ["RETRY_AFTER", "Outcome", "Remediator", "Target", "stop_through_plan"]

log = logging.getLogger(__name__)
SCANNER = "compliance-scanner"
RETRY_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Target:
    """What a remediation acts on: one finding's resource."""

    finding: str
    remediation: str
    resource_id: str
    resource: str
    resource_type: str
    workload: str
    environment: str
    project: str
    team: str
    rule: str
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What a remediation did: ``done`` (remediated), else it is tried again later."""

    done: bool
    detail: str
    plan: str = ""


Action = Callable[[Target], Outcome]


class Remediator:
    """Runs due remediations, outside any store transaction, and records them."""

    def __init__(self, *, db: Database, clock: Clock, actions: dict[str, Action]) -> None:
        self.db, self.clock, self.actions = db, clock, actions

    def run(self) -> list[dict[str, Any]]:
        """Run every due remediation once; return what happened."""
        done = []
        for target in self._due():
            action = self.actions.get(target.remediation)
            try:
                if action is None:
                    outcome = Outcome(False, f"{target.remediation} is not available here")
                else:
                    outcome = action(target)
            except Exception as exc:
                log.info("remediation %s of %s failed: %s", target.remediation, target.finding, exc)
                outcome = Outcome(False, f"{target.remediation} failed: {exc}")
            self._record(target, outcome)
            done.append(
                {
                    "finding": target.finding,
                    "remediation": target.remediation,
                    "resource": target.resource,
                    "done": outcome.done,
                    "detail": outcome.detail,
                    "plan": outcome.plan or None,
                }
            )
        return done

    def _due(self) -> list[Target]:
        now = self.clock.now()
        with self.db.read() as session:
            rows = session.scalars(
                select(ComplianceFinding)
                .where(
                    ComplianceFinding.state.in_(("open", "acknowledged")),
                    ComplianceFinding.remediation != "",
                    ComplianceFinding.remediated_at.is_(None),
                    ComplianceFinding.remediation_due <= now,
                )
                .order_by(ComplianceFinding.id)
            )
            out = []
            for row in rows:
                record = session.scalars(
                    select(ResourceRecord).where(
                        ResourceRecord.environment == row.environment,
                        ResourceRecord.project == row.project,
                        ResourceRecord.name == row.resource,
                    )
                ).first()
                out.append(
                    Target(
                        secrets=_secrets_of(session, record),
                        finding=row.id,
                        remediation=row.remediation,
                        resource_id=record.id if record else "",
                        resource=row.resource,
                        resource_type=record.type if record else "",
                        workload=record.workload if record else "",
                        environment=row.environment,
                        project=row.project,
                        team=row.team,
                        rule=f"{row.pack}/{row.rule}",
                    )
                )
            return out

    def _record(self, target: Target, outcome: Outcome) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            audit.lock_chain(session)
            row = session.get(ComplianceFinding, target.finding)
            if row is None:
                return
            row.remediation_detail = outcome.detail
            if outcome.done:
                row.remediated_at = now
            else:
                row.remediation_due = now + RETRY_AFTER
            audit.append(
                session,
                actor=SCANNER,
                action="compliance.remediated" if outcome.done else "compliance.remediation_failed",
                subject=f"finding/{row.id}",
                data={
                    "remediation": target.remediation,
                    "rule": target.rule,
                    "resource": target.resource,
                    "environment": target.environment,
                    "project": target.project,
                    "detail": outcome.detail,
                    "plan": outcome.plan or None,
                },
                clock=self.clock,
            )


def _secrets_of(session: Any, record: ResourceRecord | None) -> tuple[str, ...]:
    """Return the secrets a finding's resource is or uses (what a rotation renews)."""
    if record is None:
        return ()
    if record.type == "secret":
        return (record.name,)
    deps = inventory.resources_by_name(
        session,
        environment=record.environment,
        project=record.project,
        names=list(record.depends_on or []),
    )
    return tuple(sorted(name for name, dep in deps.items() if dep.type == "secret"))


def rotate_via(platform: Any) -> Action:
    """Return the ``rotate-secret`` action: rotate through ``platform.secrets``."""

    def rotate(target: Target) -> Outcome:
        secrets = getattr(platform, "secrets", None)
        if secrets is None:
            return Outcome(False, "secret rotation is not available on this server")
        if not target.secrets:
            return Outcome(False, f"{target.resource} is and uses no platform secret to rotate")
        done = []
        for name in target.secrets:
            rotated = secrets.rotate(target.environment, target.project, name, SCANNER)
            done.append(f"{name} (version {rotated.get('version')})")
        return Outcome(True, "rotated " + ", ".join(done))

    return rotate


def restore_by_queue(enqueue: Callable[[str], None]) -> Action:
    """Return the ``restore`` action: queue the resource for the reconciler."""

    def restore(target: Target) -> Outcome:
        if not target.resource_id:
            return Outcome(False, "the finding names no resource to restore")
        enqueue(target.resource_id)
        return Outcome(True, "desired state re-applied: the resource was queued for reconciling")

    return restore


def stop_through_plan(platform: PlatformLike) -> Action:
    """Return the ``stop`` action: the janitor agent stops the workload through a plan."""
    path = JanitorPath(platform)

    def stop(target: Target) -> Outcome:
        if not target.workload:
            return Outcome(False, f"{target.resource} belongs to no workload that can be stopped")
        where = _Where(target.workload, target.environment, target.project)
        body = path.document(where)
        if body is None:
            return Outcome(False, f"workload {target.workload} no longer exists")
        with platform.db.read() as session:
            agent = identity.actor_by_name(session, JANITOR_NAME)
        stopped = with_annotations(body, {ANNOTATION_STOPPED: "true"})
        status, digest = path.change(agent, where, body=stopped)
        if status == "applied":
            return Outcome(True, f"workload {target.workload} stopped (plan {digest[:12]})", digest)
        return Outcome(False, f"the stop waits for approval of plan {digest[:12]}", digest)

    return stop


@dataclass(frozen=True)
class _Where:
    workload: str
    environment: str
    project: str


__all__ += ["Action", "restore_by_queue", "rotate_via"]
