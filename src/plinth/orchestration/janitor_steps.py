"""The janitor's reversible sequence for one workload, one step per run when it is due.

mark → notify → stop (``notice`` after the notice) → delete (``grace`` after
the stop). Every step is a plan the janitor agent makes and applies with its
own actor, plus a ``janitor.<step>`` audit record and an event on the workload.
A step whose plan needs an approval waits in the case (``pending_plan``) and is
applied by the janitor on a later run once a platform engineer approved it.

Off the main road:

- the workload is no longer a candidate before it is stopped → ``clear``
  (the mark is removed through a plan);
- someone removed the janitor's annotations (its owner re-applied their own
  spec, say) → ``dismissed``, counted like an undo;
- an approver rejected a step → ``rejected`` (the mark is removed; what was
  applied before stays);
- the workload was deleted by someone else → ``gone``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from plinth.capabilities.finops import janitor_cases as cases
from plinth.capabilities.finops.janitor import (
    Candidate,
    JanitorPolicy,
    annotations_of,
    format_window,
    mark_text,
)
from plinth.capabilities.finops.janitor_cases import CaseView
from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import Conflict
from plinth.integration.importers.lifecycle import ANNOTATION_JANITOR_MARK, ANNOTATION_STOPPED
from plinth.orchestration.janitor_path import JanitorPath, Step, with_annotations

__all__ = ["MARK", "STOPPED", "CaseSteps"]

MARK, STOPPED = ANNOTATION_JANITOR_MARK, ANNOTATION_STOPPED
_DONE = {"mark": "marked", "stop": "stopped", "delete": "deleted"}
_WAITING = ("needs_approval", "planned")


class CaseSteps:
    """Moves janitor cases forward, one due step per run."""

    def __init__(self, path: JanitorPath, policy: JanitorPolicy) -> None:
        self.path = path
        self.policy = policy
        self.db = path.platform.db
        self.clock = path.platform.clock
        self.ids = path.platform.ids

    # -- a new case ------------------------------------------------------------------------

    def start(self, agent: Actor, cand: Candidate, now: datetime, *, dry_run: bool) -> list[Step]:
        """Mark a new candidate through a plan, then notify its owner."""
        mark = mark_text(cand.findings, now)
        if dry_run:
            return [Step.at(cand, "would_mark", mark)]
        body = self.path.document(cand)
        if body is None:
            return [Step.at(cand, "skipped", "the workload is gone")]
        status, digest = "marked", ""
        existing = annotations_of(body).get(MARK)
        if existing is None:
            marked = with_annotations(body, {MARK: mark})
            outcome, digest = self.path.change(agent, cand, body=marked)
            status = "marked" if outcome == "applied" else "marking"
        else:
            mark = existing  # an earlier run marked it and stopped before recording the case
        with self.db.transaction() as session:
            row = cases.open_case(
                session, cand, mark=mark, status=status, ids=self.ids, clock=self.clock
            )
            case_id = row.id
            if status == "marking":
                row.pending_step, row.pending_plan = "mark", digest
            else:
                data = {"plan": digest, "findings": [f.as_dict() for f in cand.findings]}
                self.path.log(
                    session, cand, actor=agent.name, action="marked", detail=mark, data=data
                )
        if status == "marking":
            return [Step.at(cand, "waiting_approval", "the mark waits for an approval", digest)]
        return [Step.at(cand, "marked", mark, digest), *self.notify(agent.name, case_id, now)]

    def notify(self, actor: str, case_id: str, now: datetime) -> list[Step]:
        """Tell the owning team: an event on the workload and an audit record."""
        with self.db.transaction() as session:
            row = cases.require_case(session, case_id)
            if row.status != "marked":
                return []
            stop_after = now + self.policy.notice
            detail = (
                f"to team {row.team or '(no team)'}: the janitor marked {row.workload} "
                f"({row.mark}); it will be stopped after {stop_after:%Y-%m-%d %H:%M} UTC and "
                f"deleted {format_window(self.policy.grace)} after that. To keep it: "
                f"plinth janitor undo {row.workload} --env {row.environment}"
            )
            row.status, row.notified_at, row.updated_at = "notified", now, now
            view = CaseView.of(row)
            data = {"team": row.team, "stop_after": stop_after.isoformat()}
            self.path.log(session, view, actor=actor, action="notified", detail=detail, data=data)
        return [Step.at(view, "notified", detail)]

    # -- an open case ------------------------------------------------------------------------

    def advance(
        self, agent: Actor, case: CaseView, cand: Candidate | None, now: datetime, *, dry_run: bool
    ) -> list[Step]:
        """Take an open case one step further when that step is due."""
        body = self.path.document(case)
        if body is None:
            status = "deleted" if case.pending_step == "delete" else "gone"
            return self._close(agent, case, status, "the workload no longer exists", dry_run)
        if case.pending_plan:
            return self._resume(agent, case, now, dry_run=dry_run)
        annotations = annotations_of(body)
        if case.status == "marking":  # its mark plan was dropped: plan the mark again
            marked = with_annotations(body, {MARK: case.mark})
            return self._act(agent, case, "mark", now, body=marked, dry_run=dry_run)
        if MARK not in annotations or (
            case.status == "stopped" and annotations.get(STOPPED) != "true"
        ):
            editor = self.path.last_editor(case) or "someone"
            detail = f"{editor} removed the janitor's annotations: the janitor leaves it alone"
            return self._close(agent, case, "dismissed", detail, dry_run, closed_by=editor)
        if case.status == "marked":
            if dry_run:
                return [Step.at(case, "would_notify")]
            return self.notify(agent.name, case.id, now)
        if case.status == "notified" and cand is None:
            return self._clear(agent, case, body, "cleared", dry_run=dry_run)
        if case.status == "notified":
            due = (case.notified_at or now) + self.policy.notice
            if now < due:
                return [Step.at(case, "waiting", f"stops after {due:%Y-%m-%d %H:%M} UTC")]
            stopped = with_annotations(body, {STOPPED: "true"})
            return self._act(agent, case, "stop", now, body=stopped, dry_run=dry_run)
        if case.status == "stopped":
            due = (case.stopped_at or now) + self.policy.grace
            if now < due:
                return [Step.at(case, "waiting", f"is deleted after {due:%Y-%m-%d %H:%M} UTC")]
            return self._act(agent, case, "delete", now, delete=True, dry_run=dry_run)
        return []

    def _act(
        self,
        agent: Actor,
        case: CaseView,
        step: str,
        now: datetime,
        *,
        body: dict[str, Any] | None = None,
        delete: bool = False,
        dry_run: bool,
    ) -> list[Step]:
        if dry_run:
            return [Step.at(case, f"would_{step}")]
        outcome, digest = self.path.change(agent, case, body=body, delete=delete)
        if outcome == "applied":
            return self._complete(agent.name, case, step, digest, now)
        with self.db.transaction() as session:
            row = cases.require_case(session, case.id)
            row.pending_step, row.pending_plan, row.updated_at = step, digest, now
        detail = f"the {step} waits for a platform engineer's approval of plan {digest[:12]}"
        return [Step.at(case, "waiting_approval", detail, digest)]

    def _complete(
        self, actor: str, case: CaseView, step: str, digest: str, now: datetime
    ) -> list[Step]:
        action = "undone" if step == "undo" else _DONE[step]
        detail = {
            "marked": case.mark,
            "stopped": f"stopped; deleted {format_window(self.policy.grace)} later unless undone",
            "deleted": "deleted: its resources are being destroyed",
            "undone": f"{actor} undid the janitor's changes",
        }[action]
        with self.db.transaction() as session:
            row = cases.require_case(session, case.id)
            if action in ("deleted", "undone"):
                cases.close_case(row, status=action, by=actor, clock=self.clock)
            else:
                row.status, row.pending_step, row.pending_plan = action, "", ""
                row.updated_at = now
                if action == "stopped":
                    row.stopped_at = now
            self.path.log(
                session, case, actor=actor, action=action, detail=detail, data={"plan": digest}
            )
        steps = [Step.at(case, action, detail, digest)]
        if action == "marked":
            steps += self.notify(actor, case.id, now)
        return steps

    def _resume(self, agent: Actor, case: CaseView, now: datetime, *, dry_run: bool) -> list[Step]:
        status, planner = self.path.plan_status(case.pending_plan)
        step, digest = case.pending_step, case.pending_plan
        if status == "applied":
            by = planner if step == "undo" else agent.name
            return [] if dry_run else self._complete(by, case, step, digest, now)
        if status in _WAITING or (status == "approved" and step == "undo"):
            return [Step.at(case, "waiting_approval", f"plan {digest[:12]} is {status}", digest)]
        if status == "approved":
            if dry_run:
                return [Step.at(case, f"would_{step}", "approved", digest)]
            try:
                self.path.platform.apply(agent, digest)
            except Conflict as exc:
                return self._drop_pending(case, f"plan {digest[:12]} could not apply: {exc}")
            return self._complete(agent.name, case, step, digest, now)
        if status == "rejected" and step != "undo":
            body = self.path.document(case) or {}
            return self._clear(agent, case, body, "rejected", dry_run=dry_run)
        return [] if dry_run else self._drop_pending(case, f"plan {digest[:12]} is {status}")

    def _drop_pending(self, case: CaseView, why: str) -> list[Step]:
        with self.db.transaction() as session:
            row = cases.require_case(session, case.id)
            row.pending_step, row.pending_plan = "", ""
        return [Step.at(case, "retry", f"{why}; planned again on the next run")]

    def _clear(
        self, agent: Actor, case: CaseView, body: dict[str, Any], status: str, *, dry_run: bool
    ) -> list[Step]:
        detail = (
            "no longer idle, expired or orphaned: the mark is removed"
            if status == "cleared"
            else "an approver rejected the janitor's plan: the mark is removed"
        )
        if dry_run:
            return [Step.at(case, f"would_close_{status}", detail)]
        digest = ""
        if MARK in annotations_of(body):
            cleared = with_annotations(body, {}, (MARK,))
            _, digest = self.path.change(agent, case, body=cleared)
        return self._close(agent, case, status, detail, False, plan=digest)

    def _close(
        self,
        agent: Actor,
        case: CaseView,
        status: str,
        detail: str,
        dry_run: bool,
        *,
        closed_by: str = "",
        plan: str = "",
    ) -> list[Step]:
        if dry_run:
            return [Step.at(case, f"would_close_{status}", detail)]
        with self.db.transaction() as session:
            row = cases.require_case(session, case.id)
            cases.close_case(row, status=status, by=closed_by or agent.name, clock=self.clock)
            data = {"plan": plan, "closed_by": closed_by or agent.name}
            self.path.log(session, case, actor=agent.name, action=status, detail=detail, data=data)
        return [Step.at(case, status, detail, plan)]
