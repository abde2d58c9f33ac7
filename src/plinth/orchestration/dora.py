"""DORA telemetry from the platform's own records (``platform.dora``).

Deployments are applied plans (store), commits are ``plan.commit`` records on the
audit chain, running and failing are resource events (inventory), rollbacks are
document revisions that put back an earlier version. The maths is in
``capabilities.dora``; docs/dora.md defines every number.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.dora import Deployment, HealthSignal, compute, weekly_series
from plinth.capabilities.dora.metrics import DEFAULT_FAILURE_WINDOW, week_start
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory.models import DocumentRevision, ResourceEvent, ResourceRecord
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, Forbidden, InvalidInput
from plinth.infrastructure.store.db import Database
from plinth.orchestration import decisions
from plinth.orchestration.reconciler import CONVERGED_PHASES
from plinth.orchestration.records import PlanRecord

__all__ = ["COMMIT_ACTION", "Dora", "parse_commit_time"]

COMMIT_ACTION = "plan.commit"
RUNNING = frozenset({"Created", "Updated"})
HEALTHY = RUNNING | {"Repaired"}
UNHEALTHY = frozenset({"Failed", "Retrying"})
DEPLOYED_KINDS = ("Workload", "Application")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_CHANGING = ("create", "update", "replace")


def parse_commit_time(raw: str | datetime, *, now: datetime) -> datetime:
    """Parse an RFC 3339 commit time (a zone is required); it may not lie in the future."""
    try:
        at = raw if isinstance(raw, datetime) else datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"commit time {raw!r} is not an RFC 3339 timestamp") from None
    if at.tzinfo is None:
        raise InvalidInput(f"commit time {raw!r} needs a time zone (e.g. 2026-11-28T10:00:00Z)")
    if at > now + timedelta(minutes=5):
        raise InvalidInput(f"commit time {raw!r} is in the future")
    return at


class _Plan(NamedTuple):
    """What DORA needs of an applied plan."""

    digest: str
    environment: str
    project: str
    applied_at: datetime
    team: str
    names: tuple[str, ...]


def _deployed(body: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether a plan deployed something, and the resources it created or changed."""
    changes = [c for c in body.get("changes", []) if c.get("action") in _CHANGING]
    names = sorted({str(c["name"]) for c in changes if c.get("type")})
    return bool(names) or any(c.get("kind") in DEPLOYED_KINDS for c in changes), names


class Dora:
    """DORA's four keys per team and environment, over a window and week by week."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        self._facts: dict[str, tuple[str, bool, tuple[str, ...]]] = {}  # digest -> facts
        self._lock = threading.Lock()

    def _plans(self, session: Session, since: datetime, environment: str | None) -> list[_Plan]:
        """Applied deployments since ``since``; a plan's body is read once per process."""
        p = PlanRecord
        stmt = select(p.digest, p.environment, p.project, p.applied_at).where(
            p.applied_at.is_not(None), p.applied_at >= since
        )
        if environment:
            stmt = stmt.where(p.environment == environment)
        rows = list(session.execute(stmt))
        with self._lock:
            missing = [r.digest for r in rows if r.digest not in self._facts]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            for digest, body in session.execute(
                select(p.digest, p.body).where(p.digest.in_(chunk))
            ):
                deployed, changed = _deployed(body)
                with self._lock:
                    self._facts[digest] = (str(body.get("team") or ""), deployed, tuple(changed))
        plans = []
        for row in rows:
            team, is_deploy, names = self._facts[row.digest]
            if is_deploy:
                plans.append(
                    _Plan(row.digest, row.environment, row.project, row.applied_at, team, names)
                )
        return plans

    # -- commits ----------------------------------------------------------------------

    def record_commit(
        self, actor: Actor, plan_digest: str, *, sha: str, time: str | datetime
    ) -> dict[str, Any]:
        """Say which commit a plan deploys (CI does, before applying); audited."""
        if not _SHA.match(sha):
            raise InvalidInput(f"commit sha {sha!r} is not 7 to 64 hex digits")
        at = parse_commit_time(time, now=self.clock.now())
        with self.db.transaction() as session:
            plan = decisions.get_plan(session, plan_digest)
            if actor.name != plan.actor and not actor.has_role("platform-engineer"):
                raise Forbidden(f"only {plan.actor} (who made the plan) may name its commit")
            known = self._commits(session, [plan_digest]).get(plan_digest)
            entry = {"sha": sha.lower(), "time": at.isoformat()}
            if known is not None:
                if known["sha"] != entry["sha"]:
                    raise Conflict(f"plan {plan_digest} already deploys commit {known['sha']}")
                return {"plan": plan_digest, **known}
            audit.append(
                session,
                actor=actor.name,
                action=COMMIT_ACTION,
                subject=f"plan/{plan_digest}",
                data=entry,
                clock=self.clock,
            )
        return {"plan": plan_digest, **entry}

    def _commits(
        self, session: Session, digests: list[str] | None = None
    ) -> dict[str, dict[str, str]]:
        a = AuditRecord
        stmt = select(a.subject, a.data).where(a.action == COMMIT_ACTION)
        if digests is not None:
            stmt = stmt.where(a.subject.in_([f"plan/{d}" for d in digests]))
        found: dict[str, dict[str, str]] = {}
        for row in session.execute(stmt.order_by(a.seq)):
            found.setdefault(row.subject.removeprefix("plan/"), dict(row.data))
        return found

    # -- records -> events ------------------------------------------------------------

    def _rollbacks(self, session: Session) -> tuple[dict[str, datetime], set[str]]:
        """Map a rolled-back plan to when it was rolled back; and the rollback plans."""
        r = DocumentRevision
        stmt = (
            select(r.key, r.digest, r.plan_digest, r.at)
            .where(or_(*(r.key.startswith(f"{kind}/") for kind in DEPLOYED_KINDS)))
            .order_by(r.key, r.revision)
        )
        by_key: dict[str, list[Any]] = defaultdict(list)
        for rev in session.execute(stmt):
            by_key[rev.key].append(rev)
        rolled: dict[str, datetime] = {}
        rollbacks: set[str] = set()
        for revisions in by_key.values():
            for index in range(2, len(revisions)):
                this, previous = revisions[index], revisions[index - 1]
                earlier = {r.digest for r in revisions[: index - 1]}
                if this.digest and this.digest != previous.digest and this.digest in earlier:
                    rollbacks.add(this.plan_digest)
                    rolled.setdefault(previous.plan_digest, this.at)
        return rolled, rollbacks

    def _load(
        self, session: Session, *, since: datetime, team: str | None, environment: str | None
    ) -> tuple[list[Deployment], list[HealthSignal]]:
        plans = [p for p in self._plans(session, since, environment) if not team or p.team == team]
        e = ResourceEvent
        events = list(
            session.execute(
                select(e.environment, e.project, e.resource, e.at, e.reason)
                .where(e.at >= since)
                .order_by(e.id)
            )
        )
        firsts: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
        for event in events:
            if event.reason in RUNNING:
                firsts[(event.environment, event.project, event.resource)].append(event.at)
        commits = self._commits(session)
        rolled, rollbacks = self._rollbacks(session)
        latest: dict[tuple[str, str, str], datetime] = {}
        for plan in sorted(plans, key=lambda p: p.applied_at):
            for name in plan.names:
                latest[(plan.environment, plan.project, name)] = plan.applied_at
        _settled(session, latest, firsts)
        deployments = [_deployment(plan, firsts, commits, rolled, rollbacks) for plan in plans]
        scopes = {(d.environment, d.project) for d in deployments}
        signals = [
            HealthSignal(e.environment, e.project, e.at, e.reason in HEALTHY, e.reason, e.resource)
            for e in events
            if (e.reason in HEALTHY or e.reason in UNHEALTHY)
            and (e.environment, e.project) in scopes
        ]
        signals += [
            HealthSignal(d.environment, d.project, d.running_at, True, "Running")
            for d in deployments
            if d.running_at is not None
        ]
        return deployments, signals

    # -- the facade -------------------------------------------------------------------

    def metrics(
        self, team: str | None = None, environment: str | None = None, window_days: int = 30
    ) -> dict[str, Any]:
        """Return the four keys with their bands for deployments in the last ``window_days``."""
        if not 1 <= window_days <= 366:
            raise InvalidInput(f"window_days must be 1 to 366, not {window_days}")
        end = self.clock.now()
        start = end - timedelta(days=window_days)
        with self.db.read() as session:
            deployments, signals = self._load(
                session, since=start - DEFAULT_FAILURE_WINDOW, team=team, environment=environment
            )
        result = compute(deployments, signals, start=start, end=end)
        return {"team": team, "environment": environment, **result}

    def series(
        self, team: str | None = None, weeks: int = 12, environment: str | None = None
    ) -> list[dict[str, Any]]:
        """Return one point per week (Monday-aligned, oldest first; the last is this week)."""
        if not 1 <= weeks <= 104:
            raise InvalidInput(f"weeks must be 1 to 104, not {weeks}")
        end = self.clock.now()
        since = week_start(end) - timedelta(weeks=weeks - 1) - DEFAULT_FAILURE_WINDOW
        with self.db.read() as session:
            deployments, signals = self._load(
                session, since=since, team=team, environment=environment
            )
        return weekly_series(deployments, signals, end=end, weeks=weeks)


def _settled(
    session: Session,
    latest: dict[tuple[str, str, str], datetime],
    firsts: dict[tuple[str, str, str], list[datetime]],
) -> None:
    """Add when a resource settled without an event (the provider had nothing to do).

    Only for the newest deployment of each resource: its row's last update is when the
    reconciler found it converged on that deployment's spec.
    """
    missing = {
        key: at for key, at in latest.items() if not any(t >= at for t in firsts.get(key, []))
    }
    if not missing:
        return
    r = ResourceRecord
    rows = session.execute(
        select(
            r.environment,
            r.project,
            r.name,
            r.phase,
            r.observed_generation,
            r.generation,
            r.updated_at,
        ).where(r.name.in_(sorted({key[2] for key in missing})))
    )
    for row in rows:
        key = (row.environment, row.project, row.name)
        applied = missing.get(key)
        if (
            applied is not None
            and row.phase in CONVERGED_PHASES
            and row.observed_generation == row.generation
            and row.updated_at >= applied
        ):
            firsts[key].append(row.updated_at)


def _deployment(
    plan: _Plan,
    firsts: dict[tuple[str, str, str], list[datetime]],
    commits: dict[str, dict[str, str]],
    rolled: dict[str, datetime],
    rollbacks: set[str],
) -> Deployment:
    applied_at = plan.applied_at
    running: datetime | None = applied_at
    for name in plan.names:
        seen = firsts.get((plan.environment, plan.project, name), [])
        after = [at for at in seen if at >= applied_at]
        if not after or running is None:
            running = None
            break
        running = max(running, min(after))
    commit = commits.get(plan.digest)
    return Deployment(
        id=plan.digest,
        team=plan.team,
        environment=plan.environment,
        project=plan.project,
        applied_at=applied_at,
        commit_sha=commit["sha"] if commit else None,
        commit_time=datetime.fromisoformat(commit["time"]) if commit else None,
        running_at=running,
        rolled_back_at=rolled.get(plan.digest),
        is_rollback=plan.digest in rollbacks,
    )
