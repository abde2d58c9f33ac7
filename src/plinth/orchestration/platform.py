"""The platform: every operation of the one path, wired to the store, gates and providers.

The experience layer (API, CLI through the API, later MCP and the portal)
calls these methods and nothing else. Each method owns one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from plinth.capabilities.agents.tokens import looks_like_jwt
from plinth.capabilities.audit import service as audit
from plinth.capabilities.authz import Authorizer, authorizer_for
from plinth.capabilities.catalog.kinds import json_schema, kinds
from plinth.capabilities.finops import committed
from plinth.capabilities.finops.attribution import project_teams
from plinth.capabilities.finops.pricebook import current_pricebook
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core import tracing
from plinth.core.clock import Clock, SystemClock
from plinth.core.config import Settings
from plinth.core.errors import GateDenied, InvalidInput, NotFound, Unauthenticated
from plinth.core.ids import IdFactory, RandomIds
from plinth.core.secrets import SecretBox, load_or_create_key
from plinth.infrastructure.providers.base import LogSource, ProviderContext, Resource
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.infrastructure.store.db import Database
from plinth.infrastructure.store.leader import (
    STARTUP_KEY,
    BackgroundService,
    Leadership,
    advisory_lock,
)
from plinth.infrastructure.store.pagination import Page
from plinth.orchestration import agents as agent_ops
from plinth.orchestration import decisions, views
from plinth.orchestration import schema as _schema  # noqa: F401 - every table on Base
from plinth.orchestration.agent_documents import AGENT_KINDS
from plinth.orchestration.applications import template_versions
from plinth.orchestration.applier import Applier
from plinth.orchestration.approval_desk import ApprovalDesk
from plinth.orchestration.billing import Billing
from plinth.orchestration.compliance_service import build_compliance
from plinth.orchestration.dora import Dora
from plinth.orchestration.events import Dispatcher, Events
from plinth.orchestration.gates.pipeline import GatePipeline
from plinth.orchestration.gpu_views import GpuViews
from plinth.orchestration.janitor import Janitor, seed_janitor
from plinth.orchestration.llm_gateway import LlmFacade
from plinth.orchestration.mcp_gateway import Gateway, GatewaySettings
from plinth.orchestration.metering import MeteringLoop
from plinth.orchestration.planner import Planner
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.policy_service import PolicyService
from plinth.orchestration.readiness import ai_readiness
from plinth.orchestration.reconciler import Reconciler
from plinth.orchestration.secrets_service import SecretsService
from plinth.orchestration.seed import seed_demo, seed_finops, seed_templates
from plinth.orchestration.seed_agents import seed_agents
from plinth.orchestration.seed_llm import seed_llm
from plinth.orchestration.showback import Costing
from plinth.orchestration.snapshots import SnapshotService
from plinth.orchestration.telemetry import instrument
from plinth.orchestration.workers import WorkQueue

__all__ = ["Listing", "Platform"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listing:
    """A page of API items."""

    items: list[dict[str, Any]]
    next_page_token: str | None


class Platform:
    """The control plane in one object."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        registry: ProviderRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.ids = ids or RandomIds()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.secret_key = load_or_create_key(settings.data_dir / "secret.key")
        self.box = SecretBox(self.secret_key)
        tracing.configure(settings.tracing_exporter)  # spans: none unless configured
        self.db = Database(settings.resolved_database_url())
        context = ProviderContext(
            data_dir=settings.data_dir.resolve(),
            secret_key=self.secret_key,
            settings={
                **settings.provider_settings,
                "project_team": self._team_of_project,  # for cost-attribution labels
                "postgres_url": settings.postgres_url,
                "postgres_bin_dir": str(settings.postgres_bin_dir)
                if settings.postgres_bin_dir
                else None,
            },
        )
        self.registry = registry or ProviderRegistry.from_entry_points(
            context, list(settings.providers)
        )
        self.pipeline = GatePipeline.from_names(settings.gates)
        self.planner = Planner(self.registry)
        self.applier = Applier(pipeline=self.pipeline, ids=self.ids, clock=self.clock, box=self.box)
        self.reconciler = Reconciler(
            db=self.db,
            registry=self.registry,
            box=self.box,
            clock=self.clock,
            interval=settings.reconcile_interval_s,
        )
        instrument(self)  # spans and metrics around plan, gates, apply, reconcile, providers
        self.queue = WorkQueue(
            handler=self.reconciler.reconcile,
            sweep=self._all_resource_ids,
            on_outputs_changed=self._dependents,
            interval=settings.reconcile_interval_s,
            workers=settings.reconcile_workers,
        )
        self.reconciler.enqueue = self.queue.enqueue  # GPU requests admitted elsewhere
        # FinOps: usage and cost (showback), FOCUS bills (billing), the janitor agent.
        self.costing = Costing(self.db, self.clock, current_pricebook)
        self.billing = Billing(db=self.db, clock=self.clock)
        self.metering = MeteringLoop(
            self.db,
            self.registry,
            current_pricebook,
            self.clock,
            interval=settings.metering_interval_s,
        )
        self.janitor = Janitor(self)
        self.agents = agent_ops.AgentDirectory(
            self.db, box=self.box, ids=self.ids, clock=self.clock
        )
        self._policies = agent_ops.PolicyCache(self.db)
        self.gpus = GpuViews(self.db, self.clock)
        self.policy = PolicyService(self.db, self.clock, self.planner)  # Rego packs, exceptions
        self.dora = Dora(self.db, self.clock)  # DORA telemetry from the records
        self.desk = ApprovalDesk(
            self.db,
            applier=self.applier,
            enqueue=self._enqueue,  # here, and the leader when this replica follows
            ids=self.ids,
            clock=self.clock,
        )
        self.llm = LlmFacade(  # the AI gateway (/v1): keys, budgets, metering, screens
            self.db, clock=self.clock, ids=self.ids, authenticate=self._gateway_actor
        )
        self.gateway = Gateway(
            self.db,
            authorizer=self.authorizer,
            clock=self.clock,
            ids=self.ids,
            settings=GatewaySettings(
                rate_per_second=settings.gateway_rate_per_second,
                burst=settings.gateway_burst,
                calls_per_day=settings.gateway_calls_per_day,
            ),
        )
        self.secrets = SecretsService(  # platform-generated secrets: rotation, redaction
            self.db,
            registry=self.registry,
            box=self.box,
            clock=self.clock,
            enqueue=self._enqueue,  # here, and the leader when this replica follows
        )
        self.compliance = build_compliance(self)  # policies on live state: findings, report
        self.snapshots = SnapshotService(  # volume, VM disk and database snapshots
            self.db,
            registry=self.registry,
            authorizer=self.authorizer,
            ids=self.ids,
            clock=self.clock,
            enqueue=self._enqueue,  # here, and the leader when this replica follows
        )
        self.events = Events(self.db, box=self.box, clock=self.clock, ids=self.ids)  # webhooks
        self.dispatcher = Dispatcher(  # outbox → webhooks and the broker (leader only)
            self.db, box=self.box, clock=self.clock, broker_url=settings.events_broker_url
        )
        # Background work runs on the leader replica only (see docs/replicas.md); append here.
        self.background: list[BackgroundService] = [
            self.queue,
            self.metering,
            self.compliance,  # continuous compliance scans
            self.secrets,  # scheduled secret rotation
            self.dispatcher,  # CloudEvents to webhooks and the broker
        ]
        self.leadership = Leadership(
            self.db.engine,
            on_elected=self._start_background,
            on_deposed=self._stop_background,
            on_wake=self._enqueue_all,  # work sent by followers
        )

    # -- lifecycle --------------------------------------------------------------------

    def prepare(self) -> dict[str, str]:
        """Migrate the store and seed it when empty; return new tokens (empty if none)."""
        with advisory_lock(self.db.engine, STARTUP_KEY):  # replicas starting together
            return self._prepare()

    def _prepare(self) -> dict[str, str]:
        self.db.migrate()
        with self.db.transaction() as session:
            committed.rebuild(session)  # committed spend per scope, from the resources
        with self.db.transaction() as session:
            if identity.is_seeded(session):
                # Stores seeded by an older version get what later versions seed too.
                seed_templates(session, ids=self.ids, clock=self.clock)
                if self.settings.seed_demo:
                    added = seed_finops(session, ids=self.ids, clock=self.clock)
                    added += seed_agents(session, box=self.box, ids=self.ids, clock=self.clock)
                    added += seed_llm(
                        session, ids=self.ids, clock=self.clock, settings=self.settings
                    )
                    if added:
                        audit.append(
                            session,
                            actor="system",
                            action="organisation.seeded",
                            subject="organisation/demo",
                            data={"finops": added},
                            clock=self.clock,
                        )
                token = seed_janitor(session, ids=self.ids, clock=self.clock)
                return {"janitor": token} if token else {}
            if not self.settings.seed_demo:
                return {}
            tokens = seed_demo(session, ids=self.ids, clock=self.clock)
            seed_agents(session, box=self.box, ids=self.ids, clock=self.clock)
            seed_llm(session, ids=self.ids, clock=self.clock, settings=self.settings)
            return tokens

    def start(self) -> None:
        """Campaign for leadership; the leader runs ``self.background`` (reconcile, metering...)."""
        self.leadership.start()

    def stop(self) -> None:
        """Stop background work, give leadership up and close the store."""
        self.leadership.stop()
        self.policy.stop()  # the policy workers (they start again on the next evaluation)
        self.db.dispose()

    def _start_background(self) -> None:
        for service in self.background:
            service.start()

    def _stop_background(self) -> None:
        for service in reversed(self.background):
            service.stop()

    def _enqueue(self, resource_id: str) -> None:
        """Queue a reconcile; on a follower also wake the leader (its sweep is the fallback)."""
        self.queue.enqueue(resource_id)
        self.leadership.wake([resource_id])

    def _enqueue_all(self, resource_ids: list[str]) -> None:
        for resource_id in resource_ids:
            self.queue.enqueue(resource_id)

    def _team_of_project(self, project: str) -> str | None:
        """Return the team that owns ``project`` (providers label resources with it)."""
        with self.db.read() as session:
            return project_teams(session, [project]).get(project)

    def _all_resource_ids(self) -> list[str]:
        with self.db.read() as session:
            return inventory.resource_ids(session)

    def _dependents(self, resource_id: str) -> list[str]:
        with self.db.read() as session:
            record = session.get(ResourceRecord, resource_id)
            if record is None:
                return []
            rows = session.scalars(
                select(ResourceRecord).where(
                    ResourceRecord.environment == record.environment,
                    ResourceRecord.project == record.project,
                )
            )
            return [r.id for r in rows if record.name in (r.depends_on or [])]

    # -- the one path -----------------------------------------------------------------

    def authenticate(self, token: str | None, *, audience: str = "plinth-api") -> Actor:
        """Return who a bearer token belongs to (humans: opaque tokens; agents: JWTs)."""
        try:
            with self.db.read() as session:
                return agent_ops.authenticate(
                    session, token, audience=audience, box=self.box, clock=self.clock
                )
        except Unauthenticated as exc:
            if token and looks_like_jwt(token):  # a refused agent is on the record
                with self.db.transaction() as session:
                    agent_ops.audit_refusal(
                        session, token, audience=audience, reason=exc.detail, clock=self.clock
                    )
            raise

    def _gateway_actor(self, token: str) -> Actor:
        """Return the agent of a JWT issued for the gateways (audience ``plinth-gateway``)."""
        return self.authenticate(token, audience="plinth-gateway")

    def authorizer(self) -> Authorizer:
        """Return the Cedar authorizer: the default policies plus AuthorizationPolicy documents."""
        return authorizer_for(self._policies.sets())

    def plan(self, actor: Actor, request: PlanRequest) -> dict[str, Any]:
        """Plan a change and run the gates; nothing is applied."""
        with self.db.transaction() as session:
            draft = self.planner.draft(session, actor, request)
            record = decisions.store_plan(
                session, draft, actor=actor, pipeline=self.pipeline, clock=self.clock
            )
            return decisions.plan_as_dict(session, record)

    def apply(self, actor: Actor, plan_digest: str) -> dict[str, Any]:
        """Apply a stored plan; raise GateDenied (after recording the decision) when denied."""
        with self.db.transaction() as session:
            result = self.applier.apply(session, plan_digest, actor)
            plan = decisions.plan_as_dict(session, result.record)
            decision = decisions.decision_ref(session, result.record)
        if result.status == "denied":
            verdicts = [v.as_dict() for v in result.verdicts]
            why = decisions.reasons(verdicts, "deny")
            raise GateDenied(
                "denied: " + "; ".join(why), extra={"verdicts": verdicts, "plan": plan}
            )
        if {c["kind"] for c in plan["changes"]} & set(AGENT_KINDS):
            self._policies.invalidate()
            self.gateway.invalidate()
        for resource_id in result.touched:
            self.queue.enqueue(resource_id)
        self.leadership.wake(list(result.touched))  # on a follower: the leader starts at once
        return {"status": result.status, "plan": plan, "decision": decision}

    def review(
        self, actor: Actor, plan_digest: str, *, approve: bool, reason: str
    ) -> dict[str, Any]:
        """Approve or reject a plan that waits for a human (agent requests then apply)."""
        return self.desk.review(actor, plan_digest, approve=approve, reason=reason)

    def get_plan(self, plan_digest: str) -> dict[str, Any]:
        """Return one plan."""
        with self.db.read() as session:
            return decisions.plan_as_dict(session, decisions.get_plan(session, plan_digest))

    def list_plans(self, *, limit: int, page_token: str | None) -> Listing:
        """Return a page of plans."""
        with self.db.read() as session:
            page = decisions.list_plans(session, limit=limit, page_token=page_token)
            return Listing(
                [decisions.plan_as_dict(session, p) for p in page.items], page.next_page_token
            )

    def approvals(
        self,
        *,
        status: str,
        limit: int,
        page_token: str | None,
        actor: Actor | None = None,
        mine: bool = False,
        team: str | None = None,
    ) -> Listing:
        """Return approval requests by status (pending by default); ``mine``: routed to me."""
        items, following = self.desk.listing(
            status=status,
            limit=limit,
            page_token=page_token,
            actor=actor,
            mine=mine,
            team=team,
        )
        return Listing(items, following)

    def approval(self, plan_digest: str, *, wait: float = 0.0) -> dict[str, Any]:
        """Return one approval request, waiting up to ``wait`` seconds for a decision."""
        return self.desk.status(plan_digest, wait=wait)

    # -- reads ------------------------------------------------------------------------

    def list_workloads(
        self,
        *,
        kind: str,
        environment: str | None,
        project: str | None,
        limit: int,
        page_token: str | None,
    ) -> Listing:
        """Return a page of workloads or applications with their status."""
        with self.db.read() as session:
            page = inventory.list_documents(
                session,
                kind=kind,
                environment=environment,
                project=project,
                limit=limit,
                page_token=page_token,
            )
            items = [self._summary(session, kind, r) for r in page.items]
            return Listing(items, page.next_page_token)

    def _summary(self, session: Any, kind: str, record: Any) -> dict[str, Any]:
        if kind == "Workload":
            return views.workload_summary(session, record)
        return views.application_summary(session, record)

    def _workload_record(
        self, session: Any, kind: str, name: str, environment: str, project: str | None
    ) -> Any:
        if project:
            return inventory.require_document(
                session, kind=kind, name=name, environment=environment, project=project
            )
        matches = inventory.find_documents(session, kind=kind, name=name, environment=environment)
        if not matches:
            raise NotFound(f"no {kind} named {name!r} in environment {environment!r}")
        if len(matches) > 1:
            projects = ", ".join(sorted(m.project for m in matches))
            raise InvalidInput(
                f"{kind} {name!r} exists in several projects of {environment!r} ({projects}): "
                "name the project"
            )
        return matches[0]

    def workload(
        self,
        name: str,
        *,
        kind: str = "Workload",
        environment: str,
        project: str | None,
        describe: bool = False,
    ) -> dict[str, Any]:
        """Return one workload (or application) with its resources, events and history."""
        with self.db.read() as session:
            record = self._workload_record(session, kind, name, environment, project)
            if kind == "Application":
                return self._summary(session, kind, record) | {"document": record.body}
            return views.workload_detail(session, record, self.box, with_history=describe)

    def logs(self, name: str, *, environment: str, project: str | None, tail: int) -> list[str]:
        """Return the last lines of a workload's logs."""
        with self.db.read() as session:
            record = self._workload_record(session, "Workload", name, environment, project)
            scope = {"environment": record.environment, "project": record.project}
            resources = [
                r
                for r in inventory.resources_of(
                    session, environment=record.environment, project=record.project, workload=name
                )
                if r.workload == name
            ]
            snapshots = [
                (
                    Resource(
                        id=r.id,
                        type=r.type,
                        name=r.name,
                        environment=r.environment,
                        project=r.project,
                        spec=r.desired,
                    ),
                    dict(r.state or {}),
                )
                for r in resources
            ]
        lines: list[str] = []
        for resource, state in snapshots:
            provider = self.registry.for_type(resource.type)
            if isinstance(provider, LogSource):
                lines.extend(provider.logs(resource, state, tail=tail))
        return self.secrets.redact(lines[-tail:], **scope)  # known secret values never shown

    def list_resources(
        self, *, environment: str | None, project: str | None, limit: int, page_token: str | None
    ) -> Listing:
        """Return a page of resources."""
        with self.db.read() as session:
            page = inventory.list_resources(
                session,
                environment=environment,
                project=project,
                limit=limit,
                page_token=page_token,
            )
            return Listing(
                [views.resource_as_dict(r, self.box) for r in page.items], page.next_page_token
            )

    def audit_log(self, *, limit: int, page_token: str | None) -> Listing:
        """Return a page of audit records, oldest first."""
        with self.db.read() as session:
            page = audit.list_records(session, limit=limit, page_token=page_token)
            return Listing([audit.record_as_dict(r) for r in page.items], page.next_page_token)

    def recent_audit(
        self, *, count: int, actions: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Return the newest ``count`` audit records (only these actions), newest first."""
        with self.db.read() as session:
            records = audit.newest_records(session, count=count, actions=actions)
            return [audit.record_as_dict(r) for r in records]

    def actor(self, name: str) -> Actor:
        """Return the user or agent called ``name`` (NotFound when there is none)."""
        with self.db.read() as session:
            return identity.actor_by_name(session, name)

    def ai_readiness(self, *, days: int = 30) -> dict[str, Any]:
        """Return the AI readiness indicators (see ``orchestration.readiness``)."""
        return ai_readiness(self, days=days)

    def audit_verify(self) -> dict[str, Any]:
        """Walk the audit chain and report the first broken record."""
        with self.db.read() as session:
            return audit.verify(session).as_dict()

    def templates(self) -> list[dict[str, Any]]:
        """Return every template with its versions."""
        with self.db.read() as session:
            names = sorted(
                {
                    r.name
                    for r in inventory.list_documents(session, kind="Template", limit=500).items
                }
            )
            result = []
            for name in names:
                versions = sorted(template_versions(session, name), key=lambda v: v.version_key)
                result.append(
                    {
                        "name": name,
                        "latest_version": versions[-1].version,
                        "versions": [v.version for v in versions],
                        "description": versions[-1].description,
                    }
                )
            return result

    def template(self, name: str, version: str | None) -> dict[str, Any]:
        """Return one template version (the newest when none is named)."""
        with self.db.read() as session:
            versions = sorted(template_versions(session, name), key=lambda v: v.version_key)
        if not versions:
            raise NotFound(f"no template named {name!r}")
        chosen = (
            versions[-1]
            if version is None
            else next((v for v in versions if v.version == version), None)
        )
        if chosen is None:
            raise NotFound(f"template {name!r} has no version {version!r}")
        return {
            "name": chosen.name,
            "version": chosen.version,
            "description": chosen.description,
            "parameters_schema": chosen.parameters_schema,
            "bounds": chosen.bounds,
            "workloads": chosen.workloads,
            "versions": [v.version for v in versions],
            "raw": chosen.raw,
        }

    def organisation(self, kind: str, *, limit: int, page_token: str | None) -> Listing:
        """Return a page of teams, projects, environments or users."""
        listers: dict[str, Callable[..., Page[Any]]] = {
            "teams": identity.list_teams,
            "projects": identity.list_projects,
            "environments": identity.list_environments,
            "users": identity.list_users,
        }
        with self.db.read() as session:
            page = listers[kind](session, limit=limit, page_token=page_token)
            return Listing([_row_dict(r) for r in page.items], page.next_page_token)

    def kinds(self) -> list[dict[str, Any]]:
        """Return the kinds of document the platform accepts."""
        return [{"apiVersion": k.api_version, "kind": k.kind, "plural": k.plural} for k in kinds()]

    def schema(self, kind: str) -> dict[str, Any]:
        """Return the JSON Schema of a kind, or raise NotFound."""
        try:
            return json_schema(kind)
        except (KeyError, FileNotFoundError):
            known = ", ".join(k.kind for k in kinds())
            raise NotFound(f"no kind named {kind!r} (known: {known})") from None


def _row_dict(row: Any) -> dict[str, Any]:
    return {
        c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in ("token_hash",)
    }
