"""Approvals: humans approve or reject plans that wait for them; agents poll or wait.

An agent's request that a human approves is applied at once, on the agent's behalf
and exactly as planned (same digest): the applier re-checks that the plan is still
current and runs the gates again, and the approval lets ``needs_approval`` pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import Clock
from plinth.core.errors import Forbidden
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.db import Database
from plinth.orchestration import autonomy, decisions
from plinth.orchestration.applier import Applier

__all__ = ["ApprovalDesk"]

MAX_WAIT_S = 25.0


class ApprovalDesk:
    """Reviews, listings and long-polls of approval requests, each in its own transaction."""

    def __init__(
        self,
        db: Database,
        *,
        applier: Applier,
        enqueue: Callable[[str], None],
        ids: IdFactory,
        clock: Clock,
    ) -> None:
        self.db, self.applier, self.enqueue, self.ids, self.clock = db, applier, enqueue, ids, clock

    def review(self, actor: Actor, digest: str, *, approve: bool, reason: str) -> dict[str, Any]:
        """Approve or reject a plan; an approved agent request is then applied for the agent."""
        try:
            with self.db.transaction() as session:
                record = decisions.get_plan(session, digest)
                decisions.record_approval(
                    session,
                    record,
                    approver=actor,
                    approve=approve,
                    reason=reason,
                    ids=self.ids,
                    clock=self.clock,
                )
        except Forbidden as exc:
            with self.db.transaction() as session:
                autonomy.record_refusal(
                    session, digest, approver=actor, refused=exc.detail, clock=self.clock
                )
            raise
        extra: dict[str, Any] = {}
        with self.db.transaction() as session:
            result = autonomy.approve_and_apply(session, digest, apply=self.applier.apply)
            if result is not None and result.status == "denied":
                extra["verdicts"] = [v.as_dict() for v in result.verdicts]
            record = decisions.get_plan(session, digest)
            plan = decisions.plan_as_dict(session, record)
            if result is not None:
                extra["decision"] = decisions.decision_ref(session, record)
        for resource_id in result.touched if result is not None else []:
            self.enqueue(resource_id)
        return {"status": record.status, "plan": plan} | extra

    def listing(
        self,
        *,
        status: str,
        limit: int,
        page_token: str | None,
        actor: Actor | None = None,
        mine: bool = False,
        team: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Return a page of approval requests (``mine``: routed to me, or mine if an agent)."""
        now = self.clock.now()
        with self.db.read() as session:
            page = decisions.list_pending(
                session,
                limit=limit,
                page_token=page_token,
                status=status,
                team=team,
                for_actor=actor if mine else None,
                now=now,
            )
            items = [decisions.approval_item(session, r, now=now) for r in page.items]
            return items, page.next_page_token

    def status(self, digest: str, *, wait: float = 0.0) -> dict[str, Any]:
        """Return where a request stands, waiting up to ``wait`` seconds for a final state."""

        def read() -> dict[str, Any]:
            with self.db.read() as session:
                return decisions.wait_status(session, digest, now=self.clock.now())

        return autonomy.poll(read, timeout_s=min(max(wait, 0.0), MAX_WAIT_S))
