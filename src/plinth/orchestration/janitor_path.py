"""How the janitor touches the platform: through plans (the one path) and the audit chain.

``JanitorPath`` reads a workload's stored document, plans and applies a change
as a given actor (the janitor agent, or the person who undoes), and records
each step as an audit record plus an event on the workload. Plans and applies
own their transactions, so no store transaction is held while one runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.core.clock import Clock
from plinth.core.errors import GateDenied
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.db import Database
from plinth.orchestration import decisions
from plinth.orchestration.planner import dump_documents
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.records import PlanRecord

__all__ = ["JanitorPath", "PlatformLike", "Step", "Where", "with_annotations"]

EVENT_REASONS = {
    "marked": "JanitorMarked",
    "notified": "JanitorNotice",
    "stopped": "JanitorStopped",
    "deleted": "JanitorDeleted",
    "cleared": "JanitorCleared",
    "undone": "JanitorUndone",
    "dismissed": "JanitorDismissed",
    "rejected": "JanitorRejected",
}


class PlatformLike(Protocol):
    """What the janitor needs of the platform: the store, time, ids and the one path."""

    @property
    def db(self) -> Database:
        """The store."""
        ...

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        ...

    @property
    def ids(self) -> IdFactory:
        """The injected id factory."""
        ...

    def plan(self, actor: Actor, request: PlanRequest) -> dict[str, Any]:
        """Plan a change and run the gates."""
        ...

    def apply(self, actor: Actor, plan_digest: str) -> dict[str, Any]:
        """Apply a stored plan."""
        ...


class Where(Protocol):
    """Anything that names one workload."""

    @property
    def workload(self) -> str:
        """The workload's name."""
        ...

    @property
    def environment(self) -> str:
        """Its environment."""
        ...

    @property
    def project(self) -> str:
        """Its project."""
        ...


@dataclass(frozen=True)
class Step:
    """One line of a janitor run: what happened (or would happen) to one workload."""

    workload: str
    environment: str
    project: str
    action: str
    detail: str = ""
    plan: str = ""

    @classmethod
    def at(cls, where: Where, action: str, detail: str = "", plan: str = "") -> Step:
        """Return a step about the workload ``where`` names."""
        return cls(where.workload, where.environment, where.project, action, detail, plan)

    def as_dict(self) -> dict[str, str | None]:
        """Return the step as JSON data."""
        return {
            "workload": self.workload,
            "environment": self.environment,
            "project": self.project,
            "action": self.action,
            "detail": self.detail,
            "plan": self.plan or None,
        }


def with_annotations(
    body: dict[str, Any], add: dict[str, str], remove: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Return a copy of a workload body with annotations added and removed."""
    out = copy.deepcopy(body)
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.update(add)
    for key in remove:
        annotations.pop(key, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return out


class JanitorPath:
    """Reads workloads, changes them through plans, and records what was done."""

    def __init__(self, platform: PlatformLike) -> None:
        self.platform = platform

    def document(self, where: Where) -> dict[str, Any] | None:
        """Return a copy of a workload's stored body, or None when it is gone."""
        with self.platform.db.read() as session:
            doc = inventory.get_document(
                session,
                kind="Workload",
                name=where.workload,
                environment=where.environment,
                project=where.project,
            )
            return None if doc is None else copy.deepcopy(dict(doc.body))

    def last_editor(self, where: Where) -> str:
        """Return who last changed a workload's document (empty when unknown)."""
        key = inventory.document_key("Workload", where.environment, where.project, where.workload)
        with self.platform.db.read() as session:
            revisions = inventory.history(session, key, limit=1)
            return revisions[0].actor if revisions else ""

    def change(
        self,
        actor: Actor,
        where: Where,
        *,
        body: dict[str, Any] | None = None,
        delete: bool = False,
    ) -> tuple[str, str]:
        """Plan and apply as ``actor``; return ("applied" or "waiting_approval", plan digest).

        Raises:
            GateDenied: a gate denied the plan (nothing was applied).
            Conflict: the plan went stale before it was applied.
        """
        request = PlanRequest(
            environment=where.environment,
            project=where.project,
            documents=dump_documents([body]) if body is not None else None,
            file="janitor" if body is not None else None,
            delete_kind="Workload" if delete else None,
            delete_name=where.workload if delete else None,
        )
        plan = self.platform.plan(actor, request)
        if plan["status"] == "denied":
            why = decisions.reasons(plan["verdicts"], "deny")
            raise GateDenied("denied: " + "; ".join(why), extra={"plan": plan})
        if plan["status"] == "needs_approval":
            return "waiting_approval", str(plan["digest"])
        result = self.platform.apply(actor, plan["digest"])
        return str(result["status"]), str(plan["digest"])

    def plan_status(self, digest: str) -> tuple[str, str]:
        """Return a stored plan's status and who made it (``missing`` when there is none)."""
        with self.platform.db.read() as session:
            record = session.get(PlanRecord, digest)
            return ("missing", "") if record is None else (record.status, record.actor)

    def log(
        self,
        session: Session,
        where: Where,
        *,
        actor: str,
        action: str,
        detail: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append ``janitor.<action>`` to the audit chain and an event on the workload."""
        audit.append(
            session,
            actor=actor,
            action=f"janitor.{action}",
            subject=f"workload/{where.environment}/{where.project}/{where.workload}",
            data={"detail": detail, **(data or {})},
            clock=self.platform.clock,
        )
        found = inventory.resources_by_name(
            session, environment=where.environment, project=where.project, names=[where.workload]
        ).get(where.workload)
        if found is not None and action in EVENT_REASONS:
            inventory.add_event(
                session,
                found,
                reason=EVENT_REASONS[action],
                message=detail[:2000],
                at=self.platform.clock.now(),
            )
