"""The applier: checks a plan is still current, records the decision, writes desired state.

Applying commits the plan's effects to desired state in one transaction; the
reconciler then drives providers to match. A crash before the commit leaves
nothing; a crash after it leaves desired state that the reconciler converges on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.agents import service as agents
from plinth.capabilities.audit import service as audit
from plinth.capabilities.finops import committed, reservations
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.models import stages
from plinth.core.clock import Clock
from plinth.core.errors import Conflict
from plinth.core.ids import IdFactory
from plinth.core.secrets import SecretBox
from plinth.orchestration import decisions
from plinth.orchestration.gates.base import Verdict, VerdictKind
from plinth.orchestration.gates.pipeline import GatePipeline
from plinth.orchestration.planner import resource_input
from plinth.orchestration.records import PlanRecord

__all__ = ["Applier", "ApplyResult"]


@dataclass
class ApplyResult:
    """What happened when a plan was applied."""

    status: str
    record: PlanRecord
    touched: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


class Applier:
    """Applies stored plans through the gates."""

    def __init__(
        self,
        *,
        pipeline: GatePipeline,
        ids: IdFactory,
        clock: Clock,
        box: SecretBox | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.ids = ids
        self.clock = clock
        self.box = box or SecretBox(secrets.token_bytes(32))  # tests without a key file

    def apply(self, session: Session, plan_digest: str, actor: Actor) -> ApplyResult:
        """Apply a plan as ``actor``: denied, waiting for approval, or applied."""
        # Decisions are serialised on the audit chain's lock, taken before anything is
        # read, so two plans made from the same state can never both pass the stale check.
        audit.lock_chain(session)
        record = decisions.get_plan(session, plan_digest)
        if record.status == "applied":
            raise Conflict(f"plan {plan_digest[:12]} was already applied")
        if record.status == "rejected":
            raise Conflict(f"plan {plan_digest[:12]} was rejected by an approver; plan again")
        if record.body.get("conflicts"):
            raise Conflict(
                f"plan {plan_digest[:12]} has template upgrade conflicts; "
                "resolve them and plan again",
                extra={"conflicts": record.body["conflicts"]},
            )
        self._check_current(session, record)
        # The owning team is read again: a project may have moved since the plan was made.
        team = ""
        if record.project:
            team = identity.project_team(session, identity.get_project(session, record.project))
        verdicts = decisions.evaluate(
            session,
            self.pipeline,
            actor=actor,
            environment=record.environment,
            project=record.project,
            team=team,
            body=record.body,
            plan_digest=record.digest,
            now=self.clock.now(),
        )
        final = decisions.decide(session, record, actor=actor, verdicts=verdicts, clock=self.clock)
        if final == VerdictKind.DENY:
            # Recorded on the audit chain by decide(); the plan itself stays as it was, so
            # one actor's denial never blocks another's approval or apply.
            return ApplyResult("denied", record, verdicts=verdicts)
        if final == VerdictKind.NEEDS_APPROVAL:
            record.status = "needs_approval"
            return ApplyResult("waiting_approval", record)
        touched = self._execute(session, record, actor)
        # What the plan held in budgets is now desired state, counted as committed spend.
        reservations.commit(session, plan_digest=record.digest)
        record.status, record.applied_at = "applied", self.clock.now()
        audit.append(
            session,
            actor=actor.name,
            action="plan.applied",
            subject=f"plan/{record.digest}",
            data={
                "environment": record.environment,
                "project": record.project,
                "documents": [
                    f"{d['kind']}/{d['name']}" for d in record.body["effects"]["put_documents"]
                ],
                "deleted": [
                    f"{d['kind']}/{d['name']}" for d in record.body["effects"]["delete_documents"]
                ],
                "resources": sorted(touched),
            },
            clock=self.clock,
        )
        return ApplyResult("applied", record, touched)

    def _check_current(self, session: Session, record: PlanRecord) -> None:
        for key, expected in record.inputs.items():
            actual = self._current_input(session, record, key)
            if actual != expected:
                raise Conflict(
                    f"the plan is stale: {key.split(':', 1)[1]} changed since the plan was made; "
                    "plan again and apply the new plan",
                    extra={"input": key},
                )

    def _current_input(self, session: Session, record: PlanRecord, key: str) -> Any:
        kind, _, ref = key.partition(":")
        if kind == "res":
            found = inventory.resources_by_name(
                session, environment=record.environment, project=record.project, names=[ref]
            )
            return resource_input(found.get(ref))
        if kind == "doc":
            path, _, label = ref.partition("@")
            parts = path.split("/")
            doc_kind, name = parts[0], parts[-1]
            env, project = (parts[1], parts[2]) if len(parts) == 4 else ("", "")
            doc = inventory.get_document(
                session, kind=doc_kind, name=name, environment=env, project=project, label=label
            )
            return doc.digest if doc else None
        if kind == "tpl":
            name, _, version = ref.partition("@")
            doc = inventory.get_document(session, kind="Template", name=name, label=version)
            return version if doc else None
        raise Conflict(f"the plan has an input this server does not know: {key}")

    def _execute(self, session: Session, record: PlanRecord, actor: Actor) -> list[str]:
        effects = record.body["effects"]
        env, project = record.environment, record.project
        # Teams before the projects that name them, whatever order the file had.
        order = {"Team": 0, "Environment": 1, "Project": 2}
        for org in sorted(effects["organisation"], key=lambda o: order.get(o["kind"], 3)):
            self._apply_organisation(session, org)
        for doc in effects["delete_documents"]:
            found = inventory.get_document(
                session,
                kind=doc["kind"],
                name=doc["name"],
                environment=doc["environment"],
                project=doc["project"],
                label=doc["label"],
            )
            if found is not None:
                inventory.delete_document(
                    session,
                    found,
                    actor=actor.name,
                    plan_digest=record.digest,
                    ids=self.ids,
                    clock=self.clock,
                )
        for doc in effects["put_documents"]:
            inventory.put_document(
                session,
                kind=doc["kind"],
                name=doc["name"],
                body=doc["body"],
                actor=actor.name,
                plan_digest=record.digest,
                ids=self.ids,
                clock=self.clock,
                environment=doc["environment"],
                project=doc["project"],
                label=doc["label"],
                owner=doc["owner"],
            )
            if doc["kind"] == "Model":  # stage promotions take effect in the registry
                stages.apply_model_document(session, doc["body"], clock=self.clock)
        touched: list[str] = []
        # The hourly cost each resource was planned at: what it commits against budgets.
        hourly = {
            c["name"]: Decimal(c["cost"]["hourly"])
            for c in record.body.get("changes", [])
            if c.get("kind") == "Resource" and c.get("cost")
        }
        for res in effects["put_resources"]:
            old = self._committed(session, env, project, res["name"])
            row = inventory.put_desired(
                session,
                environment=env,
                project=project,
                name=res["name"],
                type=res["type"],
                provider=res["provider"],
                workload=res["workload"],
                spec=res["spec"],
                depends_on=res["depends_on"],
                refs=res["refs"],
                ids=self.ids,
                clock=self.clock,
                hourly_cost=hourly.get(res["name"]),
            )
            new = Decimal(row.hourly_cost or 0)
            committed.adjust(session, environment=env, project=project, delta=new - old)
            touched.append(row.id)
        for rel in effects["release_resources"]:
            claimed = inventory.resources_by_name(
                session, environment=env, project=project, names=[rel["name"]], lock=True
            ).get(rel["name"])
            if claimed is not None:
                was = Decimal(claimed.hourly_cost or 0) if not claimed.deleting else Decimal(0)
                if inventory.release(session, claimed, ref=rel["ref"], clock=self.clock) and was:
                    committed.adjust(session, environment=env, project=project, delta=-was)
                touched.append(claimed.id)
        return touched

    def _committed(self, session: Session, env: str, project: str, name: str) -> Decimal:
        """Return what a resource commits now (0 when absent or being deleted)."""
        found = inventory.resources_by_name(
            session, environment=env, project=project, names=[name], lock=True
        ).get(name)
        return Decimal(found.hourly_cost or 0) if found and not found.deleting else Decimal(0)

    def _apply_organisation(self, session: Session, org: dict[str, Any]) -> None:
        spec = org.get("spec") or {}
        common = {"ids": self.ids, "clock": self.clock, "description": spec.get("description", "")}
        if org["kind"] == "Team":
            identity.upsert_team(session, name=org["name"], **common)
        elif org["kind"] == "Project":
            identity.upsert_project(session, name=org["name"], team=spec["team"], **common)
        elif org["kind"] == "Agent":
            agents.upsert_agent(
                session,
                name=org["name"],
                spec=spec,
                box=self.box,
                ids=self.ids,
                clock=self.clock,
            )
        elif org["kind"] == "Environment":
            tier = spec.get("tier", "dev")
            identity.upsert_environment(
                session,
                name=org["name"],
                tier=tier,
                protected=bool(spec.get("protected", tier == "prod")),
                region=spec.get("region", "local"),
                **common,
            )
