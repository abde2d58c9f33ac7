"""Snapshots and backups (``platform.snapshots``): take, list and restore, authorized and audited.

A snapshot copies the data of one ``volume``, ``vm`` (its disks) or ``postgres`` resource
(a ``pg_dump`` backup) through the provider's optional ``Snapshotter`` ability; the
``snapshots`` table records each one. Who may: taking and restoring are ``change``
requests to Cedar on the resource's project and environment (part ``project``, kind
``Resource``, action ``snapshot`` or ``restore``), so the rules of applying hold:
a change role in the project's team outside production, ``release-manager`` or
``platform-engineer`` in production and protected environments. A decision that would
need an approval is refused here (snapshots do not wait in the approval queue).

Every take and restore, failed ones included, is appended to the audit chain
(``snapshot.created``, ``snapshot.failed``, ``snapshot.restored``,
``snapshot.restore-failed``) and recorded as an event of the resource. After a VM
snapshot or any restore the resource is reconciled again (a VM is halted for a
consistent copy; the reconciler boots it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.authz import Authorizer, change_request
from plinth.capabilities.authz.schemas import ALLOW, DENY
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.capabilities.snapshots.models import SnapshotRecord
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.providers.base import Resource, Snapshotter
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.infrastructure.store.db import Database
from plinth.infrastructure.store.pagination import Page, paginate

__all__ = ["CONSISTENCY", "SNAPSHOT_KINDS", "SnapshotPage", "SnapshotService"]

SNAPSHOT_KINDS = {"volume": "volume", "vm": "vm-disk", "postgres": "postgres-backup"}
CONSISTENCY = {
    "volume": "file by file while in use: stop the writers first for a consistent copy",
    "vm-disk": "consistent: the VM is halted while its disks are copied, then booted again",
    "postgres-backup": "consistent: pg_dump reads one transaction snapshot, online",
}


@dataclass(frozen=True)
class SnapshotPage:
    """A page of snapshots and the token of the next one."""

    items: list[dict[str, Any]]
    next_page_token: str | None


@dataclass(frozen=True)
class _Target:
    """The resource a snapshot is taken of or restored into, read from the store."""

    resource: Resource
    state: dict[str, Any]
    provider: str


class SnapshotService:
    """The ``platform.snapshots`` facade (see the module docs)."""

    def __init__(
        self,
        db: Database,
        *,
        registry: ProviderRegistry,
        authorizer: Callable[[], Authorizer],
        ids: IdFactory,
        clock: Clock,
        enqueue: Callable[[str], None] | None = None,
    ) -> None:
        self.db, self.registry, self.authorizer = db, registry, authorizer
        self.ids, self.clock, self.enqueue = ids, clock, enqueue

    # -- reading --------------------------------------------------------------------

    def list(
        self,
        *,
        environment: str | None = None,
        project: str | None = None,
        resource: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> SnapshotPage:
        """Return a page of snapshots, oldest first (ids sort by creation time)."""
        stmt = select(SnapshotRecord)
        if environment:
            stmt = stmt.where(SnapshotRecord.environment == environment)
        if project:
            stmt = stmt.where(SnapshotRecord.project == project)
        if resource:
            stmt = stmt.where(SnapshotRecord.resource_name == resource)
        with self.db.read() as session:
            page: Page[SnapshotRecord] = paginate(
                session, stmt, SnapshotRecord.id, limit=limit, page_token=page_token
            )
            return SnapshotPage([snapshot_as_dict(r) for r in page.items], page.next_page_token)

    def get(self, snapshot_id: str) -> dict[str, Any]:
        """Return one snapshot (NotFound when there is none)."""
        with self.db.read() as session:
            return snapshot_as_dict(_require(session, snapshot_id))

    # -- taking ---------------------------------------------------------------------

    def create(
        self,
        actor: Actor,
        *,
        resource: str,
        environment: str,
        project: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Snapshot one resource's data now; return the snapshot (status ``ready``)."""
        if len(note) > 2000:
            raise InvalidInput("a snapshot note is at most 2000 characters")
        with self.db.transaction() as session:
            record = self._record(session, actor, environment, project, resource)
            self._authorize(session, actor, record, "snapshot")
            target = _target(record)
            provider = self._snapshotter(target)
            now = self.clock.now()
            suffix = self.ids.new("snap").split("_", 1)[-1][:12]
            row = SnapshotRecord(
                id=f"snap_{now:%Y%m%d%H%M%S}_{suffix}",
                resource_id=record.id,
                resource_type=record.type,
                resource_name=record.name,
                environment=record.environment,
                project=record.project,
                kind=SNAPSHOT_KINDS[record.type],
                created_at=now,
                created_by=actor.name,
                size_bytes=0,
                location="",
                status="creating",
                note=note,
            )
            session.add(row)
            snapshot_id = row.id
        try:
            taken = provider.snapshot(target.resource, target.state, snapshot_id)
        except Exception as exc:
            self._finish(snapshot_id, actor.name, "snapshot.failed", status="failed", error=exc)
            raise
        finally:
            if target.resource.type == "vm" and self.enqueue is not None:
                self.enqueue(target.resource.id)
        return self._finish(
            snapshot_id,
            actor.name,
            "snapshot.created",
            status="ready",
            location=taken.location,
            size_bytes=taken.size_bytes,
        )

    # -- restoring ------------------------------------------------------------------

    def restore(self, actor: Actor, snapshot_id: str) -> dict[str, Any]:
        """Put a snapshot back in place of its resource's data; the resource is reconciled."""
        with self.db.transaction() as session:
            row = _require(session, snapshot_id)
            record = session.get(ResourceRecord, row.resource_id)
            if record is None or record.deleting:
                raise Conflict(
                    f"{row.resource_type} {row.resource_name} (of snapshot {snapshot_id}) no "
                    "longer exists: a snapshot restores into the resource it was taken of"
                )
            self._authorize(session, actor, record, "restore")
            target = _target(record)
            provider = self._snapshotter(target)
            claimed = session.execute(
                update(SnapshotRecord)
                .where(SnapshotRecord.id == snapshot_id, SnapshotRecord.status == "ready")
                .values(status="restoring")
            )
            if getattr(claimed, "rowcount", 0) != 1:
                raise Conflict(f"snapshot {snapshot_id} is {row.status}: only a ready one restores")
            location = row.location
        try:
            provider.restore(target.resource, target.state, location)
        except Exception as exc:
            self._finish(
                snapshot_id, actor.name, "snapshot.restore-failed", status="ready", error=exc
            )
            raise
        finally:
            if self.enqueue is not None:
                self.enqueue(target.resource.id)
        return self._finish(snapshot_id, actor.name, "snapshot.restored", status="ready")

    # -- helpers --------------------------------------------------------------------

    def _record(
        self,
        session: Session,
        actor: Actor,
        environment: str,
        project: str | None,
        name: str,
    ) -> ResourceRecord:
        identity.get_environment(session, environment)
        project = project or identity.default_project(session, actor).name
        found = inventory.resources_by_name(
            session, environment=environment, project=project, names=[name]
        ).get(name)
        if found is None or found.deleting:
            candidates = session.scalars(
                select(ResourceRecord.name).where(
                    ResourceRecord.environment == environment,
                    ResourceRecord.project == project,
                    ResourceRecord.type.in_(tuple(SNAPSHOT_KINDS)),
                    ResourceRecord.deleting.is_(False),
                )
            ).all()
            known = ", ".join(sorted(candidates)) or "none"
            raise NotFound(
                f"no resource named {name!r} in {environment}/{project} "
                f"(resources with data there: {known})"
            )
        if found.type not in SNAPSHOT_KINDS:
            kinds = ", ".join(sorted(SNAPSHOT_KINDS))
            raise InvalidInput(
                f"{found.type} {name} holds no data to snapshot: snapshots are of {kinds} resources"
            )
        if found.observed_generation == 0:
            raise Conflict(f"{found.type} {name} is {found.phase}: snapshot it once it exists")
        return found

    def _authorize(self, session: Session, actor: Actor, record: ResourceRecord, verb: str) -> None:
        env = identity.get_environment(session, record.environment)
        try:
            team = identity.project_team(session, identity.get_project(session, record.project))
        except NotFound:
            team = ""
        request = change_request(
            actor,
            environment=env.name,
            tier=env.tier,
            protected=env.protected,
            project=record.project,
            team=team,
            changes=[{"kind": "Resource", "name": record.name, "action": verb}],
            part="project",
            now=self.clock.now(),
        )
        decision = self.authorizer().decide(request, now=self.clock.now())
        if decision.outcome == ALLOW:
            return
        why = "; ".join(decision.reasons) or "no policy permits it"
        needed = "is not allowed"
        if decision.outcome != DENY:
            needed = "needs an approval, which snapshots cannot wait for"
        raise Forbidden(
            f"{verb} of {record.type} {record.name} in {record.environment}/{record.project} "
            f"by {actor.name} {needed}: {why}",
            extra={"policies": list(decision.policies), "suggestions": list(decision.suggestions)},
        )

    def _snapshotter(self, target: _Target) -> Snapshotter:
        provider = self.registry.for_type(target.resource.type)
        if not isinstance(provider, Snapshotter):
            raise Conflict(f"the {provider.name} provider cannot snapshot {target.resource.type}")
        return provider

    def _finish(
        self,
        snapshot_id: str,
        actor: str,
        action: str,
        *,
        status: str,
        location: str | None = None,
        size_bytes: int | None = None,
        error: Exception | None = None,
    ) -> dict[str, Any]:
        """Record the outcome: the row, an event of the resource, an audit record."""
        with self.db.transaction() as session:
            audit.lock_chain(session)
            row = _require(session, snapshot_id)
            row.status = status
            if location is not None:
                row.location = location
            if size_bytes is not None:
                row.size_bytes = size_bytes
            message = f"{action.split('.', 1)[1]} by {actor}: snapshot {snapshot_id}"
            if error is not None:
                message += f": {getattr(error, 'detail', None) or error}"
            resource = session.get(ResourceRecord, row.resource_id)
            if resource is not None:
                reason = "".join(p.capitalize() for p in action.split(".", 1)[1].split("-"))
                inventory.add_event(
                    session,
                    resource,
                    reason=f"Snapshot{reason}",
                    message=message,
                    at=self.clock.now(),
                )
            data: dict[str, Any] = {"snapshot": snapshot_id, "kind": row.kind}
            if error is not None:
                data["error"] = str(getattr(error, "detail", None) or error)[:500]
            else:
                data["size_bytes"] = row.size_bytes
            audit.append(
                session,
                actor=actor,
                action=action,
                subject=f"{row.resource_type}/{row.environment}/{row.project}/{row.resource_name}",
                data=data,
                clock=self.clock,
            )
            return snapshot_as_dict(row)


def _require(session: Session, snapshot_id: str) -> SnapshotRecord:
    row = session.get(SnapshotRecord, snapshot_id)
    if row is None:
        raise NotFound(f"no snapshot {snapshot_id!r} (plinth snapshot list shows them)")
    return row


def _target(record: ResourceRecord) -> _Target:
    return _Target(
        Resource(
            id=record.id,
            type=record.type,
            name=record.name,
            environment=record.environment,
            project=record.project,
            spec=dict(record.desired),
        ),
        dict(record.state or {}),
        record.provider,
    )


def snapshot_as_dict(row: SnapshotRecord) -> dict[str, Any]:
    """Return a snapshot as JSON data."""
    return {
        "id": row.id,
        "resource": {
            "id": row.resource_id,
            "type": row.resource_type,
            "name": row.resource_name,
            "environment": row.environment,
            "project": row.project,
        },
        "kind": row.kind,
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "size_bytes": row.size_bytes,
        "location": row.location,
        "note": row.note,
        "consistency": CONSISTENCY.get(row.kind, ""),
    }
