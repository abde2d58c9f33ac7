"""Policy as code for the API and CLI (``platform.policy``): packs, tests, explain, exceptions."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.policy import PolicyEngine, shared_pool
from plinth.core.clock import Clock
from plinth.core.errors import NotFound
from plinth.infrastructure.store.db import Database
from plinth.orchestration import decisions
from plinth.orchestration.gates.base import GateContext
from plinth.orchestration.gates.policy import PolicyGate, explain
from plinth.orchestration.planner import Planner
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.policy_facts import exception_rules, packs_in_force

__all__ = ["PolicyService"]


class PolicyService:
    """The packs, their tests, explanations of plans, and the exceptions (``platform.policy``)."""

    def __init__(self, db: Database, clock: Clock, planner: Planner) -> None:
        self.db = db
        self.clock = clock
        self.planner = planner

    def packs(self) -> list[dict[str, Any]]:
        """Return every pack in force (name, version, modules, tests, data)."""
        with self.db.read() as session:
            return [p.summary() for p in packs_in_force(session)]

    def test(self, *, pack: str | None = None) -> dict[str, Any]:
        """Run the ``test_*`` rules of every pack (or one) and report each test."""
        with self.db.read() as session:
            packs = [p for p in packs_in_force(session) if pack in (None, p.name)]
        if not packs:
            raise NotFound(f"no policy pack named {pack!r}")
        outcomes = PolicyEngine(packs).test()
        failed = [o for o in outcomes if not o.passed]
        return {
            "packs": [p.ref for p in packs],
            "tests": [o.as_dict() for o in outcomes],
            "passed": len(outcomes) - len(failed),
            "failed": len(failed),
        }

    def evaluate(
        self,
        actor: Actor,
        *,
        documents: str,
        environment: str,
        project: str | None = None,
        file: str | None = None,
    ) -> dict[str, Any]:
        """Plan documents (nothing stored) and explain the policy gate's decision on them."""
        request = PlanRequest(
            environment=environment, project=project, documents=documents, file=file
        )
        now = self.clock.now()
        with self.db.read() as session:
            draft = self.planner.draft(session, actor, request)
            body = {"changes": [c.as_dict() for c in draft.changes], "cost": draft.cost}
            view = decisions.plan_view(
                session,
                environment=draft.environment,
                project=draft.project,
                team=draft.team,
                body=body,
                now=now,
                actor=actor,
            )
        gate = PolicyGate()
        evaluation, kept, excepted = gate.run(view, actor, GateContext(settings={"now": now}))
        verdict = gate.verdict(evaluation, kept, excepted)
        return {
            "environment": draft.environment,
            "project": draft.project,
            "verdict": verdict.as_dict(),
        } | explain(evaluation, kept, excepted)

    def stop(self) -> None:
        """Stop this process's policy workers (they start again when needed)."""
        shared_pool().close()

    def exceptions(self, *, include_expired: bool = False) -> list[dict[str, Any]]:
        """Return the PolicyExceptions (in force, or all with ``include_expired``)."""
        now = self.clock.now()
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        with self.db.read() as session:
            rules = exception_rules(session)
        return [
            e.as_dict() | {"expired": e.expires <= now}
            for e in rules
            if include_expired or e.expires > now
        ]
