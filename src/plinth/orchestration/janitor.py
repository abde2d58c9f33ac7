"""The janitor agent: cleans up idle, expired and orphaned workloads through the one path.

The janitor is a user like any other: kind ``agent``, name ``janitor``, its own
API token and one org-wide grant of the ``janitor`` role. The authorization
gate lets that role update and delete existing workloads and nothing else;
outside production it may act alone, in production its stop and delete plans
wait for a platform engineer's approval (marking, a document-only change, does
not). Every change it makes is a plan it makes and applies as itself, so it
passes every gate and lands on the audit chain like anyone's.

Per candidate (``finops.janitor.find_candidates``) it runs a reversible
sequence (``janitor_steps``): mark → notify the owning team → stop after the
notice period → delete after the grace period, one due step per run. Until the
delete, ``undo`` (by the owner or a platform engineer, through a plan of their
own) removes the janitor's annotations and the workload runs again.

Rules worth knowing:

- **State** lives in the ``janitor_cases`` table (migration 0003d), not only in
  annotations: it keeps when each step happened, plans waiting for approval,
  and closed cases (so an undone workload is left alone for ``snooze``, 30
  days, and a deleted one can say so). The annotations are what people see.
- **Applications**: a workload rendered by an Application cannot be edited on
  its own, so the janitor never acts on one; it is reported as a
  recommendation (``recommended``) for the Application's owners. Orphans
  (project gone) are recommendations too: no plan can be made in a project
  that does not exist.
- **Runs** are started by a platform engineer or by the janitor agent's token
  (``POST /api/v1/janitor/run``); the steps always act as the janitor agent.

See ``docs/janitor.md`` for the numbers and a walkthrough.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.finops import janitor_cases as cases
from plinth.capabilities.finops.janitor import JanitorPolicy, annotations_of, find_candidates
from plinth.capabilities.finops.janitor_models import JanitorCase
from plinth.capabilities.finops.rightsizing import RightsizingPolicy, recommend
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.models import UserRow
from plinth.capabilities.identity.schemas import Actor, Grant, Persona, Role
from plinth.capabilities.inventory import service as inventory
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, Forbidden, GateDenied, InvalidInput, NotFound
from plinth.core.ids import IdFactory
from plinth.orchestration.janitor_path import (
    JanitorPath,
    PlatformLike,
    Step,
    Where,
    with_annotations,
)
from plinth.orchestration.janitor_steps import MARK, STOPPED, CaseSteps

__all__ = ["JANITOR_NAME", "Janitor", "PlatformLike", "page", "seed_janitor"]

JANITOR_NAME = "janitor"


def seed_janitor(session: Session, *, ids: IdFactory, clock: Clock) -> str:
    """Create the janitor agent with its grant; return its new token ("" if it exists)."""
    if session.query(UserRow).filter(UserRow.name == JANITOR_NAME).first() is not None:
        return ""
    actor = identity.create_user(
        session,
        name=JANITOR_NAME,
        persona=Persona.AGENT,
        grants=[Grant(Role.JANITOR)],
        ids=ids,
        clock=clock,
        display_name="Janitor agent: cleans up idle, expired and orphaned workloads",
        kind="agent",
    )
    audit.append(
        session,
        actor="system",
        action="agent.created",
        subject=f"user/{JANITOR_NAME}",
        data={"kind": "agent", "roles": [Role.JANITOR.value]},
        clock=clock,
    )
    return identity.issue_token(session, user_id=actor.id, ids=ids, clock=clock)


def page(
    items: Sequence[Any], *, limit: int, page_token: str | None
) -> tuple[list[Any], str | None]:
    """Return one page of an in-memory list and the token of the next page."""
    start = 0
    if page_token:
        try:
            start = int(base64.urlsafe_b64decode(page_token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(f"invalid page_token {page_token!r}") from None
    end = start + limit
    following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return list(items[start:end]), following


class Janitor:
    """The janitor and right-sizing agents, behind one facade (``platform.janitor``)."""

    def __init__(
        self,
        platform: PlatformLike,
        *,
        policy: JanitorPolicy | None = None,
        rightsizing: RightsizingPolicy | None = None,
    ) -> None:
        self.platform = platform
        self.policy = policy or JanitorPolicy()
        self.rightsizing_policy = rightsizing or RightsizingPolicy()
        self.path = JanitorPath(platform)
        self.sequence = CaseSteps(self.path, self.policy)

    def agent(self) -> Actor:
        """Return the janitor agent's actor (NotFound when it was never created)."""
        with self.platform.db.read() as session:
            try:
                return identity.actor_by_name(session, JANITOR_NAME)
            except NotFound:
                raise NotFound(
                    "the janitor agent does not exist: the platform creates it when it seeds "
                    "the organisation (seed_janitor)"
                ) from None

    def candidates(
        self, *, environment: str | None = None, project: str | None = None
    ) -> list[dict[str, Any]]:
        """Return every candidate, most expensive first, with the state of its case."""
        now = self.platform.clock.now()
        with self.platform.db.read() as session:
            found = find_candidates(
                session, now=now, policy=self.policy, environment=environment, project=project
            )
            open_cases = {c.key: c for c in cases.active_cases(session)}
            snoozed = cases.snoozed_keys(session, since=now - self.policy.snooze)
        items = []
        for cand in found:
            case = open_cases.pop(cand.key, None)
            until = snoozed.get(cand.key)
            items.append(
                cand.as_dict()
                | {
                    "case": case.as_dict() if case else None,
                    "snoozed_until": until + self.policy.snooze if until else None,
                }
            )
        for case in open_cases.values():  # stopped ones use nothing, but their case goes on
            if environment not in (None, case.environment) or project not in (None, case.project):
                continue
            items.append(_case_item(case))
        return items

    def run(self, actor: Actor, *, dry_run: bool = False) -> dict[str, Any]:
        """Take every candidate one due step further, as the janitor agent."""
        if not (actor.has_role(Role.PLATFORM_ENGINEER) or actor.has_role(Role.JANITOR)):
            raise Forbidden(
                "running the janitor needs the platform-engineer role or the janitor agent's token"
            )
        agent = self.agent()
        now = self.platform.clock.now()
        with self.platform.db.read() as session:
            found = find_candidates(session, now=now, policy=self.policy)
            open_cases = cases.active_cases(session)
            snoozed = cases.snoozed_keys(session, since=now - self.policy.snooze)
        by_key = {c.key: c for c in found}
        steps: list[Step] = []
        for case in open_cases:
            advance = partial(
                self.sequence.advance, agent, case, by_key.get(case.key), now, dry_run=dry_run
            )
            steps += self._guarded(case, advance)
        busy = {c.key for c in open_cases}
        for cand in found:
            if cand.key in busy:
                continue
            if not cand.actionable:
                steps.append(Step.at(cand, "recommended", cand.why_not))
            elif cand.key in snoozed:
                steps.append(Step.at(cand, "snoozed", "undone or dismissed recently"))
            else:
                start = partial(self.sequence.start, agent, cand, now, dry_run=dry_run)
                steps += self._guarded(cand, start)
        report = [s.as_dict() for s in steps]
        if not dry_run:
            self._audit_run(actor, agent, steps)
        return {"dry_run": dry_run, "at": now, "policy": self.policy.as_dict(), "steps": report}

    @staticmethod
    def _guarded(where: Where, action: Callable[[], list[Step]]) -> list[Step]:
        """Run one workload's step; a denial or a race is reported, never fatal to the run."""
        try:
            result = action()
        except GateDenied as exc:
            return [Step.at(where, "denied", exc.detail)]
        except (Conflict, NotFound, InvalidInput) as exc:
            return [Step.at(where, "skipped", exc.detail)]
        return result

    def _audit_run(self, trigger: Actor, agent: Actor, steps: list[Step]) -> None:
        counts: dict[str, int] = {}
        for step in steps:
            counts[step.action] = counts.get(step.action, 0) + 1
        with self.platform.db.transaction() as session:
            audit.append(
                session,
                actor=agent.name,
                action="janitor.run",
                subject="janitor",
                data={"triggered_by": trigger.name, "steps": counts},
                clock=self.platform.clock,
            )

    def undo(
        self, actor: Actor, workload: str, *, environment: str, project: str | None = None
    ) -> dict[str, Any]:
        """Remove the janitor's annotations through a plan of ``actor``'s own."""
        where = self._locate(workload, environment, project)
        body = self.path.document(where)
        with self.platform.db.read() as session:
            case = cases.find_case(session, where.key)
            view = cases.CaseView.of(case) if case else None
            last = cases.last_closed(session, **where.names())
        if body is None:
            if last is not None and last.status == "deleted":
                raise Conflict(
                    f"the janitor deleted {workload!r} on {last.closed_at:%Y-%m-%d}: deletion is "
                    "final; apply its spec again to bring it back"
                )
            raise NotFound(f"no workload named {workload!r} in {environment}/{where.project}")
        annotations = annotations_of(body)
        remove = [MARK] if MARK in annotations else []
        if view is not None and view.stopped_at and annotations.get(STOPPED) == "true":
            remove.append(STOPPED)
        if not remove:
            raise Conflict(f"workload {workload!r} carries no janitor mark: nothing to undo")
        outcome, digest = self.path.change(
            actor, where, body=with_annotations(body, {}, tuple(remove))
        )
        with self.platform.db.transaction() as session:
            row = cases.find_case(session, where.key)
            if outcome == "applied":
                if row is not None:
                    cases.close_case(row, status="undone", by=actor.name, clock=self.platform.clock)
                detail = f"{actor.name} undid the janitor's changes (removed {', '.join(remove)})"
                self.path.log(
                    session,
                    where,
                    actor=actor.name,
                    action="undone",
                    detail=detail,
                    data={"plan": digest},
                )
            elif row is not None:
                row.pending_step, row.pending_plan = "undo", digest
        return {**where.names(), "status": outcome, "plan": digest, "removed": remove}

    def _locate(self, workload: str, environment: str, project: str | None) -> _Where:
        with self.platform.db.read() as session:
            if project:
                return _Where(workload, environment, project)
            matches = inventory.find_documents(
                session, kind="Workload", name=workload, environment=environment
            )
            if not matches:
                closed = _closed_projects(session, workload, environment)
                if len(closed) == 1:
                    return _Where(workload, environment, closed[0])
                raise NotFound(f"no workload named {workload!r} in environment {environment!r}")
            if len(matches) > 1:
                projects = ", ".join(sorted(m.project for m in matches))
                raise InvalidInput(
                    f"workload {workload!r} exists in several projects of {environment!r} "
                    f"({projects}): name the project"
                )
            return _Where(workload, environment, matches[0].project)

    def rightsizing(
        self, *, environment: str | None = None, project: str | None = None
    ) -> list[dict[str, Any]]:
        """Return right-sizing recommendations, biggest monthly savings first."""
        now = self.platform.clock.now()
        with self.platform.db.read() as session:
            found = recommend(
                session,
                now=now,
                policy=self.rightsizing_policy,
                environment=environment,
                project=project,
            )
        return [r.as_dict() for r in found]


class _Where:
    """One workload's address."""

    def __init__(self, workload: str, environment: str, project: str) -> None:
        self.workload, self.environment, self.project = workload, environment, project

    @property
    def key(self) -> str:
        return f"{self.environment}/{self.project}/{self.workload}"

    def names(self) -> dict[str, str]:
        return {"environment": self.environment, "project": self.project, "workload": self.workload}


def _closed_projects(session: Session, workload: str, environment: str) -> list[str]:
    stmt = select(JanitorCase.project).where(
        JanitorCase.workload == workload, JanitorCase.environment == environment
    )
    return sorted(set(session.scalars(stmt)))


def _case_item(case: cases.CaseView) -> dict[str, Any]:
    return {
        "workload": case.workload,
        "environment": case.environment,
        "project": case.project,
        "team": case.team,
        "findings": list(case.findings),
        "monthly_cost": case.as_dict()["monthly_cost"],
        "currency": case.currency,
        "cost_basis": "case",
        "application": "",
        "actionable": True,
        "why_not": None,
        "utilisation": None,
        "expires_at": None,
        "notes": ["no longer a candidate by usage (it is stopped): the sequence goes on"],
        "case": case.as_dict(),
        "snoozed_until": None,
    }
