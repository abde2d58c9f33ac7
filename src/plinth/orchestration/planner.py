"""The planner: intent (documents) → a diff against current state, with inputs recorded.

The planner has no side effects. It reads the store and asks providers how they
would realise each resource; the applier later executes the plan's effects.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml
from sqlalchemy.orm import Session

from plinth.capabilities.accelerators.pools import pool_document_issues
from plinth.capabilities.catalog.loader import load_documents
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.capabilities.models.stages import model_document_issues
from plinth.core.digest import digest
from plinth.core.documents import Document, ResourceSpec
from plinth.core.errors import InvalidInput, Issue, SpecError
from plinth.infrastructure.providers.base import ChangeAction, Observation, Resource
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.integration.importers.score import merge_shared, order_resources, translate_workload
from plinth.orchestration.agent_documents import AGENT_KINDS, validate_agent_document
from plinth.orchestration.applications import render_application
from plinth.orchestration.costing import FINOPS_KINDS, price_draft, validate_finops_document
from plinth.orchestration.plans import Change, PlanDraft, PlanRequest
from plinth.orchestration.policy_facts import check_exception_document, check_policy_document
from plinth.orchestration.resolve import resolve_specs
from plinth.orchestration.secure_defaults import harden_resource, requested_settings

__all__ = ["SECURITY_KINDS", "Planner"]

# Policy as code and the AI gateway's configuration: stored documents, read where used.
SECURITY_KINDS = ("Policy", "PolicyException", "LlmProvider", "LlmAccess")

ORG_KINDS = (
    "Team",
    "Project",
    "Environment",
    "Template",
    *FINOPS_KINDS,
    *AGENT_KINDS,
    "Model",
    "AcceleratorPool",
    *SECURITY_KINDS,
)
# Organisation documents that are only stored: nothing else is written when they apply.
DOCUMENT_ONLY = (
    "Template",
    *FINOPS_KINDS,
    "McpServer",
    "AuthorizationPolicy",
    "Model",
    "AcceleratorPool",
    *SECURITY_KINDS,
)
SCOPED = ("Workload", "Application")
DELETABLE = ("Workload", "Application")


def resource_input(record: ResourceRecord | None) -> str | None:
    """Return the fingerprint of a resource's desired state, for staleness checks."""
    if record is None:
        return None
    return digest([record.desired_digest, record.deleting, sorted(record.refs or [])])


class Planner:
    """Turns a plan request into a draft plan."""

    def __init__(self, registry: ProviderRegistry) -> None:
        self.registry = registry

    def draft(self, session: Session, actor: Actor, request: PlanRequest) -> PlanDraft:
        """Return the draft plan for ``request`` as ``actor``."""
        if request.delete_kind and request.delete_kind not in DELETABLE:
            raise InvalidInput(
                f"deleting a {request.delete_kind} is not supported; "
                f"deletable kinds: {', '.join(DELETABLE)}"
            )
        env = identity.get_environment(session, request.environment)
        docs: list[Document] = []
        if not request.delete_kind:
            if not request.documents or not request.documents.strip():
                raise InvalidInput("nothing to plan: send documents, or a delete request")
            docs = load_documents(request.documents, file=request.file)
        draft = PlanDraft(environment=env.name, project="", team="")
        # Only workloads and applications live in a project; organisation documents don't.
        if request.delete_kind or request.project or any(d.kind in SCOPED for d in docs):
            if request.project:
                project = identity.get_project(session, request.project)
            else:
                project = identity.default_project(session, actor)
            draft.project, draft.team = project.name, identity.project_team(session, project)
        if request.delete_kind:
            self._plan_delete(session, draft, request.delete_kind, request.delete_name or "")
            return self._priced(session, draft)
        workloads: list[tuple[Document, str]] = []
        teams = {d.name for d in docs if d.kind == "Team"}
        for doc in docs:
            if doc.kind == "Workload":
                workloads.append((doc, ""))
            elif doc.kind == "Application":
                workloads.extend(self._plan_application(session, draft, doc, request))
            elif doc.kind in ORG_KINDS:
                self._plan_org_document(session, draft, doc, teams)
            else:
                raise SpecError(
                    [Issue(f"kind {doc.kind} cannot be applied", "$.kind", doc.index, doc.file)]
                )
        if workloads:
            self._plan_workloads(session, draft, workloads)
        return self._priced(session, draft)

    def _priced(self, session: Session, draft: PlanDraft) -> PlanDraft:
        """Attach cost estimates (per change and for the plan) to the draft."""

        types = self.registry.types()

        def provider_of(type_: str) -> str:
            return types.get(type_, "")

        price_draft(session, draft, provider_of=provider_of)
        return draft

    # -- documents -----------------------------------------------------------------

    def _document_change(
        self,
        session: Session,
        draft: PlanDraft,
        *,
        kind: str,
        name: str,
        body: dict[str, Any],
        scoped: bool,
        label: str = "",
        owner: str = "",
    ) -> str:
        env, project = (draft.environment, draft.project) if scoped else ("", "")
        record = inventory.get_document(
            session, kind=kind, name=name, environment=env, project=project, label=label
        )
        key = inventory.document_key(kind, env, project, name, label)
        draft.inputs[f"doc:{key}"] = record.digest if record else None
        if record is not None and record.digest == digest(body) and record.owner == owner:
            draft.changes.append(Change(kind=kind, name=_shown(name, label), action="no-op"))
            return "no-op"
        action = "create" if record is None else "update"
        draft.changes.append(
            Change(
                kind=kind,
                name=_shown(name, label),
                action=action,
                before=record.body if record else None,
                after=body,
            )
        )
        draft.effects.put_documents.append(
            {
                "kind": kind,
                "name": name,
                "environment": env,
                "project": project,
                "label": label,
                "owner": owner,
                "body": body,
            }
        )
        return action

    def _plan_org_document(
        self, session: Session, draft: PlanDraft, doc: Document, teams: set[str]
    ) -> None:
        label = ""
        if doc.kind == "Template":
            from plinth.capabilities.templates import TemplateVersion

            version = TemplateVersion.from_document(doc.raw)
            label = version.version
            existing = inventory.get_document(session, kind="Template", name=doc.name, label=label)
            if existing is not None and existing.digest != digest(doc.raw):
                raise SpecError(
                    [
                        Issue(
                            f"template {doc.name} version {label} is already published "
                            "and versions are "
                            "immutable: publish it under a new version",
                            "$.spec.version",
                            doc.index,
                            doc.file,
                        )
                    ]
                )
        elif doc.kind == "Policy":  # Rego compiled now; versions immutable like templates
            label = check_policy_document(session, doc)
        elif doc.kind == "PolicyException":
            check_exception_document(doc, now=datetime.now(UTC))
        elif doc.kind in FINOPS_KINDS:
            validate_finops_document(session, doc, teams=teams)
        elif doc.kind in AGENT_KINDS:
            validate_agent_document(session, doc, teams=teams)
        elif doc.kind in ("Model", "AcceleratorPool"):
            problems = (
                model_document_issues(session, doc.raw, teams=teams)
                if doc.kind == "Model"
                else pool_document_issues(doc.raw)
            )
            if problems:
                raise SpecError([Issue(m, p, doc.index, doc.file) for p, m in problems])
        elif doc.kind == "Project":
            team = doc.spec.get("team", "")
            if team not in teams and identity.find_team(session, team) is None:
                raise SpecError(
                    [Issue(f"no team named {team!r}", "$.spec.team", doc.index, doc.file)]
                )
        action = self._document_change(
            session, draft, kind=doc.kind, name=doc.name, body=doc.raw, scoped=False, label=label
        )
        if doc.kind not in DOCUMENT_ONLY and action != "no-op":
            draft.effects.organisation.append(
                {"kind": doc.kind, "name": doc.name, "spec": doc.spec}
            )

    def _plan_application(
        self, session: Session, draft: PlanDraft, doc: Document, request: PlanRequest
    ) -> list[tuple[Document, str]]:
        rendered = render_application(
            session,
            doc,
            environment=draft.environment,
            project=draft.project,
            upgrade=request.upgrade,
        )
        draft.inputs.update(rendered.inputs)
        draft.violations.extend(rendered.violations)
        draft.conflicts.extend(rendered.conflicts)
        self._document_change(
            session, draft, kind="Application", name=doc.name, body=rendered.body, scoped=True
        )
        rendered_names = {w.name for w in rendered.workloads}
        for old in inventory.list_documents(
            session,
            kind="Workload",
            environment=draft.environment,
            project=draft.project,
            owner=doc.name,
            limit=500,
        ).items:
            if old.name not in rendered_names:
                self._plan_delete_workload(session, draft, old.name)
        return [(w, doc.name) for w in rendered.workloads]

    # -- workloads and resources ------------------------------------------------------

    def _plan_workloads(
        self, session: Session, draft: PlanDraft, workloads: list[tuple[Document, str]]
    ) -> None:
        specs: list[ResourceSpec] = []
        claims: dict[str, set[str]] = {}
        for doc, owner in workloads:
            existing = inventory.get_document(
                session,
                kind="Workload",
                name=doc.name,
                environment=draft.environment,
                project=draft.project,
            )
            if existing is not None and existing.owner != owner:
                held = f"application {existing.owner!r}" if existing.owner else "a standalone spec"
                raise SpecError(
                    [
                        Issue(
                            f"workload {doc.name!r} already exists in "
                            f"{draft.environment}/{draft.project}, "
                            f"managed by {held}",
                            "$.metadata.name",
                            doc.index,
                            doc.file,
                        )
                    ]
                )
            self._document_change(
                session,
                draft,
                kind="Workload",
                name=doc.name,
                body=doc.raw,
                scoped=True,
                owner=owner,
            )
            translated = translate_workload(doc)
            for spec in translated:
                claims.setdefault(spec.name, set()).add(doc.name)
            specs.extend(translated)
        ordered = resolve_specs(
            session, order_resources(merge_shared(specs)), [doc for doc, _ in workloads]
        )
        wanted = {s.name for s in ordered}
        workload_names = [doc.name for doc, _ in workloads]
        current = inventory.resources_by_name(
            session, environment=draft.environment, project=draft.project, names=sorted(wanted)
        )
        for spec in ordered:
            spec = self.harden(spec, ordered, claims, workloads)
            self._plan_resource(draft, spec, current.get(spec.name), sorted(claims[spec.name]))
        for name in workload_names:
            for record in inventory.resources_of(
                session, environment=draft.environment, project=draft.project, workload=name
            ):
                if record.deleting or name in claims.get(record.name, ()):
                    continue
                # A shared resource another workload of this plan still wants keeps its own
                # line in the plan; only this workload's claim on it goes.
                self._plan_release(draft, record, ref=name, shown=record.name not in wanted)

    def harden(
        self,
        spec: ResourceSpec,
        ordered: list[ResourceSpec],
        claims: dict[str, set[str]],
        workloads: list[tuple[Document, str]],
    ) -> ResourceSpec:
        """Return ``spec`` with the secure defaults injected (see ``secure_defaults``)."""
        owners = claims.get(spec.name, set())
        deps = set(spec.depends_on) | {o.name for o in ordered if o.workload in owners}
        requested: dict[str, Any] = {}
        for doc, _ in workloads:
            if doc.name in owners:
                requested |= requested_settings(doc.annotations, index=doc.index, file=doc.file)
        return harden_resource(
            spec,
            dependencies=deps - {spec.name},
            provider=self.registry.for_type(spec.type),
            requested=requested,
        )

    def _plan_resource(
        self, draft: PlanDraft, spec: ResourceSpec, record: ResourceRecord | None, refs: list[str]
    ) -> None:
        provider = self.registry.for_type(spec.type)
        draft.inputs[f"res:{spec.name}"] = resource_input(record)
        desired = Resource(
            id=record.id if record else "",
            type=spec.type,
            name=spec.name,
            environment=draft.environment,
            project=draft.project,
            spec=spec.spec,
        )
        observed = None
        if record is not None and not record.deleting:
            observed = Observation(
                exists=True,
                phase=record.phase,
                state=dict(record.state or {}),
                applied_digest=digest(record.desired),
            )
        verdict = provider.plan(desired, observed)
        action = verdict.action.value
        reasons = list(verdict.reasons)
        if (
            record is not None
            and action == ChangeAction.UPDATE.value
            and record.desired == spec.spec
        ):
            action, reasons = ChangeAction.NOOP.value, []
        new_refs = sorted(set(record.refs or []) | set(refs)) if record else sorted(refs)
        draft.changes.append(
            Change(
                kind="Resource",
                type=spec.type,
                name=spec.name,
                action=action,
                before=record.desired if record and not record.deleting else None,
                after=spec.spec,
                reasons=reasons,
            )
        )
        if action != ChangeAction.NOOP.value or (
            record is not None and new_refs != sorted(record.refs or [])
        ):
            draft.effects.put_resources.append(
                {
                    "name": spec.name,
                    "type": spec.type,
                    "provider": provider.name,
                    "workload": spec.workload or "",
                    "spec": spec.spec,
                    "depends_on": sorted(spec.depends_on),
                    "refs": refs,
                    "replace": action == ChangeAction.REPLACE.value,
                }
            )

    def _plan_release(
        self, draft: PlanDraft, record: ResourceRecord, *, ref: str, shown: bool = True
    ) -> None:
        draft.inputs[f"res:{record.name}"] = resource_input(record)
        draft.effects.release_resources.append({"name": record.name, "ref": ref})
        remaining = [r for r in (record.refs or []) if r != ref]
        if not shown:
            return
        if remaining:
            draft.changes.append(
                Change(
                    kind="Resource",
                    type=record.type,
                    name=record.name,
                    action="no-op",
                    reasons=[f"still used by {', '.join(remaining)}"],
                )
            )
        else:
            draft.changes.append(
                Change(
                    kind="Resource",
                    type=record.type,
                    name=record.name,
                    action="delete",
                    before=record.desired,
                    reasons=[f"no longer declared by {ref}"],
                )
            )

    # -- deletion -----------------------------------------------------------------------

    def _plan_delete(self, session: Session, draft: PlanDraft, kind: str, name: str) -> None:
        if kind not in DELETABLE:
            raise InvalidInput(
                f"deleting a {kind} is not supported; deletable kinds: {', '.join(DELETABLE)}"
            )
        if kind == "Workload":
            record = inventory.require_document(
                session,
                kind="Workload",
                name=name,
                environment=draft.environment,
                project=draft.project,
            )
            if record.owner:
                raise InvalidInput(
                    f"workload {name!r} belongs to application {record.owner!r}: "
                    "delete the application"
                )
            self._plan_delete_workload(session, draft, name)
            return
        app = inventory.require_document(
            session,
            kind="Application",
            name=name,
            environment=draft.environment,
            project=draft.project,
        )
        self._delete_document(draft, app.kind, app.name, app.digest, app.body)
        for workload in inventory.list_documents(
            session,
            kind="Workload",
            environment=draft.environment,
            project=draft.project,
            owner=name,
            limit=500,
        ).items:
            self._plan_delete_workload(session, draft, workload.name)

    def _plan_delete_workload(self, session: Session, draft: PlanDraft, name: str) -> None:
        record = inventory.require_document(
            session,
            kind="Workload",
            name=name,
            environment=draft.environment,
            project=draft.project,
        )
        self._delete_document(draft, "Workload", name, record.digest, record.body)
        for resource in inventory.resources_of(
            session, environment=draft.environment, project=draft.project, workload=name
        ):
            if not resource.deleting:
                self._plan_release(draft, resource, ref=name)

    def _delete_document(
        self, draft: PlanDraft, kind: str, name: str, doc_digest: str, body: dict[str, Any]
    ) -> None:
        key = inventory.document_key(kind, draft.environment, draft.project, name)
        draft.inputs[f"doc:{key}"] = doc_digest
        draft.changes.append(Change(kind=kind, name=name, action="delete", before=body))
        draft.effects.delete_documents.append(
            {
                "kind": kind,
                "name": name,
                "environment": draft.environment,
                "project": draft.project,
                "label": "",
            }
        )


def _shown(name: str, label: str) -> str:
    return f"{name}@{label}" if label else name


def dump_documents(docs: list[dict[str, Any]]) -> str:
    """Return documents as multi-document YAML."""
    return yaml.safe_dump_all(docs, sort_keys=False)


__all__ += ["dump_documents", "resource_input"]
