"""Sync a repository of desired state into Plinth, through the one path.

Every file is validated first; then every batch is planned (organisation
documents in one plan, then one plan per environment and project) and the
gates judge each. Only when no plan is denied or waits for approval are they
applied, organisation first. A batch whose project or environment is created
by the same sync is planned right after the organisation plan is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from plinth.capabilities.identity import models as identity_models
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory.models import DocumentRecord
from plinth.core.errors import GateDenied, InvalidInput, Issue, PlinthError, SpecError
from plinth.orchestration.gitops import (
    SCOPED_KINDS,
    TreeBatches,
    TreeFile,
    desired_state,
    read_tree,
)
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["Commit", "SyncReport", "state_documents", "sync_tree"]


@dataclass(frozen=True)
class Commit:
    """The commit a sync deploys: recorded with every plan it applies."""

    sha: str
    time: str


@dataclass
class SyncReport:
    """What a sync planned and did."""

    source: str
    commit: Commit | None
    dry_run: bool
    plans: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    not_pruned: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = "planned"

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON data."""
        return {
            "source": self.source,
            "commit": None if self.commit is None else vars(self.commit),
            "dry_run": self.dry_run,
            "status": self.status,
            "plans": self.plans,
            "deferred": self.deferred,
            "not_pruned": self.not_pruned,
            "applied": self.applied,
            "notes": self.notes,
        }


def state_documents(platform: Platform) -> list[dict[str, Any]]:
    """Return every document of desired state as JSON data, in the repository's order."""
    with platform.db.read() as session:
        return [d.as_dict() for d in desired_state(session, now=platform.clock.now())]


@dataclass(frozen=True)
class _Batch:
    """The files of one plan as one YAML stream, and where each file's documents start."""

    text: str
    label: str
    spans: tuple[tuple[str, int, int], ...]

    @classmethod
    def of(cls, files: list[TreeFile]) -> _Batch:
        parts, spans, start = [], [], 0
        for file in files:
            ending = "" if file.text.endswith("\n") else "\n"  # a last line without one
            parts.append("---\n" + file.text + ending)
            spans.append((file.path, start, len(file.keys)))
            start += len(file.keys)
        label = files[0].path if len(files) == 1 else f"{len(files)} files"
        return cls("".join(parts), label, tuple(spans))

    def locate(self, issue: Issue) -> Issue:
        """Return the issue naming the file (and its document) it came from."""
        if issue.document is None:
            return issue
        for path, start, count in self.spans:
            if start <= issue.document < start + count:
                return Issue(issue.message, issue.path, issue.document - start, path)
        return issue


def _planning_environment(platform: Platform) -> str:
    with platform.db.read() as session:
        names = sorted(e.name for e in session.scalars(select(identity_models.EnvironmentRow)))
    if not names:
        raise InvalidInput("no environment exists to plan organisation documents in")
    return names[0]


def _exists(platform: Platform, env: str, project: str) -> bool:
    rows = identity_models
    with platform.db.read() as session:
        has_env = session.scalar(select(rows.EnvironmentRow).where(rows.EnvironmentRow.name == env))
        has_prj = session.scalar(select(rows.ProjectRow).where(rows.ProjectRow.name == project))
    return has_env is not None and has_prj is not None


def _live_scoped(platform: Platform) -> set[tuple[str, str, str, str]]:
    with platform.db.read() as session:
        records = session.scalars(
            select(DocumentRecord).where(DocumentRecord.kind.in_(SCOPED_KINDS))
        )
        return {
            (r.kind, r.environment, r.project, r.name)
            for r in records
            if not (r.kind == "Workload" and r.owner)
        }


class _Sync:
    def __init__(self, platform: Platform, actor: Actor, report: SyncReport) -> None:
        self.platform, self.actor, self.report = platform, actor, report
        self.ready: list[dict[str, Any]] = []

    def plan(self, request: PlanRequest, batch: _Batch | None = None) -> None:
        """Plan one batch; stop the sync when a gate denies it or it waits for a person."""
        try:
            plan = self.platform.plan(self.actor, request)
        except SpecError as exc:
            if batch is None:
                raise
            raise SpecError([batch.locate(i) for i in exc.issues]) from exc
        self.report.plans.append(plan)
        if plan.get("outcome") == "deny":
            self.report.status = "denied"
            where = f"{request.file or request.delete_name} ({plan['digest'][:12]})"
            why = "; ".join(
                f"{v.get('gate')}: {'; '.join(v.get('reasons') or [])}"
                for v in plan.get("verdicts") or []
                if v.get("verdict") == "deny"
            )
            extra = {"report": self.report.as_dict()}
            raise GateDenied(f"a gate denied the plan for {where}: {why}", extra=extra)
        if any(c.get("action") != "no-op" for c in plan.get("changes") or []):
            self.ready.append(plan)

    def _record(self, digest: str, commit: Commit) -> None:
        """Name the commit a plan deploys (audited); a failure is noted, never blocks the sync."""
        try:
            self.platform.dora.record_commit(self.actor, digest, sha=commit.sha, time=commit.time)
        except PlinthError as exc:
            self.report.notes.append(f"commit not recorded for plan {digest[:12]}: {exc.detail}")

    def waiting(self) -> bool:
        """True (and noted in the report) when a plan waits for approval: then none is applied."""
        waiting = [p for p in self.ready if p.get("status") == "needs_approval"]
        for plan in waiting:
            self.report.notes.append(
                f"plan {str(plan['digest'])[:12]} needs approval (plinth approvals list); "
                "approve it, then sync again"
            )
        if waiting:
            self.report.status = "waiting_approval"
        return bool(waiting)

    def apply_ready(self) -> None:
        """Apply every plan that changes something, recording the commit first."""
        commit = self.report.commit
        for plan in self.ready:
            digest = str(plan["digest"])
            if commit is not None:
                self._record(digest, commit)
            result = self.platform.apply(self.actor, digest)
            if result["status"] != "applied":
                self.report.status = str(result["status"])
                raise PlinthError(
                    f"plan {digest[:12]} is {result['status']}: the sync stopped there",
                    extra={"report": self.report.as_dict()},
                )
            self.report.applied.append(digest)
        self.ready = []


def _prune(sync: _Sync, batches: TreeBatches) -> None:
    in_git = {key for files in batches.organisation for file in files for key in file.keys}
    with sync.platform.db.read() as session:
        live = {
            (d.kind, d.name)
            for d in desired_state(session, now=sync.platform.clock.now())
            if not d.environment
        }
    sync.report.not_pruned = [
        f"{kind}/{name}: only workloads and applications are deleted by a sync"
        for kind, name in sorted(live - in_git)
    ]
    wanted = batches.keys()
    for kind, env, project, name in sorted(_live_scoped(sync.platform) - wanted):
        request = PlanRequest(environment=env, project=project, delete_kind=kind, delete_name=name)
        sync.plan(request)


def sync_tree(
    platform: Platform,
    actor: Actor,
    files: Mapping[str, str],
    *,
    source: str,
    commit: Commit | None = None,
    dry_run: bool = False,
    prune: bool = False,
) -> SyncReport:
    """Validate, plan and (unless ``dry_run``) apply a repository's files; nothing half-applied."""
    batches = read_tree(files)
    report = SyncReport(source=source, commit=commit, dry_run=dry_run)
    sync = _Sync(platform, actor, report)
    planning_env = _planning_environment(platform) if batches.organisation else ""
    for files_of_round in batches.organisation:
        _plan_batch(sync, planning_env, "", _Batch.of(files_of_round))
    later: list[tuple[str, str]] = []
    for (env, project), scoped in sorted(batches.scoped.items()):
        if not _exists(platform, env, project):
            later.append((env, project))
            report.deferred.append(f"{env}/{project}: planned once its organisation is applied")
            continue
        _plan_batch(sync, env, project, _Batch.of(scoped))
    if prune:
        _prune(sync, batches)
    if dry_run or sync.waiting():
        return report
    sync.apply_ready()
    for env, project in later:
        _plan_batch(sync, env, project, _Batch.of(batches.scoped[(env, project)]))
    if sync.waiting():  # the organisation plan is applied; these wait for a person
        return report
    sync.apply_ready()
    report.deferred = []
    report.status = "applied"
    return report


def _plan_batch(sync: _Sync, env: str, project: str, batch: _Batch) -> None:
    request = PlanRequest(
        environment=env, project=project or None, documents=batch.text, file=batch.label
    )
    sync.plan(request, batch)
