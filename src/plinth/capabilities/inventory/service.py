"""The inventory capability: desired documents with history, resources and their events.

Services never commit; the caller (the boundary) owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.inventory.models import (
    DocumentRecord,
    DocumentRevision,
    ResourceEvent,
    ResourceRecord,
)
from plinth.core.clock import Clock
from plinth.core.digest import digest
from plinth.core.errors import NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.pagination import Page, paginate

__all__ = [
    "add_event",
    "delete_document",
    "document_key",
    "events_for",
    "find_documents",
    "get_document",
    "history",
    "list_documents",
    "list_resources",
    "put_desired",
    "put_document",
    "release",
    "require_document",
    "resource_ids",
    "resources_by_name",
    "resources_of",
    "versions_of",
]


def document_key(kind: str, environment: str, project: str, name: str, label: str = "") -> str:
    """Return the stable key of a document, e.g. ``Workload/dev/checkout/web``."""
    key = "/".join(p for p in (kind, environment, project, name) if p)
    return f"{key}@{label}" if label else key


def get_document(
    session: Session,
    *,
    kind: str,
    name: str,
    environment: str = "",
    project: str = "",
    label: str = "",
) -> DocumentRecord | None:
    """Return the current document, or None."""
    return session.scalar(
        select(DocumentRecord).where(
            DocumentRecord.kind == kind,
            DocumentRecord.name == name,
            DocumentRecord.environment == environment,
            DocumentRecord.project == project,
            DocumentRecord.label == label,
        )
    )


def require_document(
    session: Session,
    *,
    kind: str,
    name: str,
    environment: str = "",
    project: str = "",
    label: str = "",
) -> DocumentRecord:
    """Return the current document, or raise NotFound."""
    record = get_document(
        session, kind=kind, name=name, environment=environment, project=project, label=label
    )
    if record is None:
        where = f" in {environment}/{project}" if environment else ""
        raise NotFound(f"no {kind} named {name!r}{where}")
    return record


def put_document(
    session: Session,
    *,
    kind: str,
    name: str,
    body: dict[str, Any],
    actor: str,
    plan_digest: str,
    ids: IdFactory,
    clock: Clock,
    environment: str = "",
    project: str = "",
    label: str = "",
    owner: str = "",
) -> DocumentRecord:
    """Create or update a document and record the revision."""
    now = clock.now()
    record = get_document(
        session, kind=kind, name=name, environment=environment, project=project, label=label
    )
    body_digest = digest(body)
    if record is None:
        record = DocumentRecord(
            id=ids.new("doc"),
            kind=kind,
            name=name,
            environment=environment,
            project=project,
            label=label,
            body=body,
            digest=body_digest,
            owner=owner,
            revision=1,
            created_at=now,
            updated_at=now,
        )
        session.add(record)
        action = "create"
    else:
        if record.digest == body_digest and record.owner == owner:
            return record
        record.body, record.digest, record.owner = body, body_digest, owner
        record.revision += 1
        record.updated_at = now
        action = "update"
    session.add(
        DocumentRevision(
            id=ids.new("rev"),
            key=document_key(kind, environment, project, name, label),
            revision=record.revision,
            action=action,
            body=body,
            digest=body_digest,
            actor=actor,
            plan_digest=plan_digest,
            at=now,
        )
    )
    session.flush()
    return record


def delete_document(
    session: Session,
    record: DocumentRecord,
    *,
    actor: str,
    plan_digest: str,
    ids: IdFactory,
    clock: Clock,
) -> None:
    """Delete a document, keeping its history."""
    session.add(
        DocumentRevision(
            id=ids.new("rev"),
            key=document_key(
                record.kind, record.environment, record.project, record.name, record.label
            ),
            revision=record.revision + 1,
            action="delete",
            body=None,
            digest="",
            actor=actor,
            plan_digest=plan_digest,
            at=clock.now(),
        )
    )
    session.delete(record)
    session.flush()


def list_documents(
    session: Session,
    *,
    kind: str,
    environment: str | None = None,
    project: str | None = None,
    owner: str | None = None,
    limit: int = 50,
    page_token: str | None = None,
) -> Page[DocumentRecord]:
    """Return a page of documents of one kind, optionally scoped."""
    stmt = select(DocumentRecord).where(DocumentRecord.kind == kind)
    if environment is not None:
        stmt = stmt.where(DocumentRecord.environment == environment)
    if project is not None:
        stmt = stmt.where(DocumentRecord.project == project)
    if owner is not None:
        stmt = stmt.where(DocumentRecord.owner == owner)
    return paginate(session, stmt, DocumentRecord.id, limit=limit, page_token=page_token)


def find_documents(
    session: Session, *, kind: str, name: str, environment: str
) -> list[DocumentRecord]:
    """Return the documents of one kind and name in an environment, across projects."""
    stmt = select(DocumentRecord).where(
        DocumentRecord.kind == kind,
        DocumentRecord.name == name,
        DocumentRecord.environment == environment,
    )
    return list(session.scalars(stmt))


def versions_of(session: Session, *, kind: str, name: str) -> list[DocumentRecord]:
    """Return every labelled version of an unscoped document (e.g. a template's versions)."""
    stmt = select(DocumentRecord).where(
        DocumentRecord.kind == kind, DocumentRecord.name == name, DocumentRecord.environment == ""
    )
    return list(session.scalars(stmt))


def history(session: Session, key: str, *, limit: int = 100) -> list[DocumentRevision]:
    """Return a document's revisions, newest first."""
    stmt = (
        select(DocumentRevision)
        .where(DocumentRevision.key == key)
        .order_by(DocumentRevision.at.desc(), DocumentRevision.revision.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def resources_of(
    session: Session, *, environment: str, project: str, workload: str
) -> list[ResourceRecord]:
    """Return the resources a workload owns or references (shared ones included)."""
    rows = session.scalars(
        select(ResourceRecord)
        .where(ResourceRecord.environment == environment, ResourceRecord.project == project)
        .where((ResourceRecord.workload == workload) | (ResourceRecord.workload == ""))
    )
    return [r for r in rows if r.workload == workload or workload in (r.refs or [])]


def resources_by_name(
    session: Session, *, environment: str, project: str, names: list[str], lock: bool = False
) -> dict[str, ResourceRecord]:
    """Return the named resources of one environment and project (row-locked if ``lock``)."""
    if not names:
        return {}
    stmt = select(ResourceRecord).where(
        ResourceRecord.environment == environment,
        ResourceRecord.project == project,
        ResourceRecord.name.in_(names),
    )
    if lock:
        # Wait for a reconciler writing these rows, then read what it committed.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return {r.name: r for r in session.scalars(stmt)}


def put_desired(
    session: Session,
    *,
    environment: str,
    project: str,
    name: str,
    type: str,
    provider: str,
    workload: str,
    spec: dict[str, Any],
    depends_on: list[str],
    refs: list[str],
    ids: IdFactory,
    clock: Clock,
    hourly_cost: Decimal | None = None,
) -> ResourceRecord:
    """Record the desired spec of a resource; a changed spec bumps its generation."""
    now = clock.now()
    found = resources_by_name(
        session, environment=environment, project=project, names=[name], lock=True
    )
    record = found.get(name)
    spec_digest = digest(spec)
    if record is None:
        record = ResourceRecord(
            id=ids.new("res"),
            environment=environment,
            project=project,
            name=name,
            type=type,
            provider=provider,
            workload=workload,
            refs=sorted(set(refs)),
            desired=spec,
            desired_digest=spec_digest,
            depends_on=sorted(depends_on),
            deleting=False,
            generation=1,
            observed_generation=0,
            state={},
            outputs={},
            sealed_outputs="",
            applied_digest="",
            phase="pending",
            healthy=None,
            message="",
            failures=0,
            next_attempt_at=None,
            created_at=now,
            updated_at=now,
        )
        session.add(record)
    else:
        changed = record.desired_digest != spec_digest or record.deleting or record.type != type
        record.refs = sorted(set(record.refs or []) | set(refs))
        if changed:
            record.type, record.provider = type, provider
            record.desired, record.desired_digest = spec, spec_digest
            record.depends_on = sorted(depends_on)
            record.deleting = False
            record.generation += 1
            record.failures, record.next_attempt_at = 0, None
            record.updated_at = now
    if hourly_cost is not None:
        record.hourly_cost = hourly_cost
    session.flush()
    return record


def release(session: Session, record: ResourceRecord, *, ref: str, clock: Clock) -> bool:
    """Drop ``ref``'s claim on a resource; mark it for deletion when nobody claims it."""
    refs = [r for r in (record.refs or []) if r != ref]
    record.refs = refs
    if not refs and not record.deleting:
        record.deleting = True
        record.generation += 1
        record.failures, record.next_attempt_at = 0, None
        record.updated_at = clock.now()
    session.flush()
    return record.deleting


def add_event(
    session: Session, record: ResourceRecord, *, reason: str, message: str, at: datetime
) -> None:
    """Record an event about a resource."""
    session.add(
        ResourceEvent(
            resource_id=record.id,
            resource=record.name,
            environment=record.environment,
            project=record.project,
            workload=record.workload,
            at=at,
            reason=reason,
            message=message,
        )
    )


def events_for(
    session: Session, *, environment: str, project: str, resource_names: list[str], limit: int = 100
) -> list[ResourceEvent]:
    """Return the newest events of these resources, newest first."""
    stmt = (
        select(ResourceEvent)
        .where(
            ResourceEvent.environment == environment,
            ResourceEvent.project == project,
            ResourceEvent.resource.in_(resource_names),
        )
        .order_by(ResourceEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def list_resources(
    session: Session,
    *,
    environment: str | None,
    project: str | None,
    limit: int,
    page_token: str | None,
) -> Page[ResourceRecord]:
    """Return a page of resources, optionally scoped."""
    stmt = select(ResourceRecord)
    if environment:
        stmt = stmt.where(ResourceRecord.environment == environment)
    if project:
        stmt = stmt.where(ResourceRecord.project == project)
    return paginate(session, stmt, ResourceRecord.id, limit=limit, page_token=page_token)


def resource_ids(session: Session) -> list[str]:
    """Return the id of every resource (the reconciler's periodic sweep)."""
    return list(session.scalars(select(ResourceRecord.id).order_by(ResourceRecord.id)))
