"""Platform-generated secrets: metadata, rotation (on request and on schedule), redaction.

A ``secret`` resource (a Score resource ``type: secret``, params ``length`` and
``rotation`` such as ``30d``) holds a value the provider generates and keeps
encrypted; workloads read it through ``${resources.<name>.value}``. This facade
(``platform.secrets``) never returns a value:

- ``list`` gives metadata only: name, age, version, last and next rotation;
- ``rotate`` asks the provider for a new value, records a ``Rotated`` event and an
  audit record (name and version, never the value) and reconciles the secret, whose
  changed output restarts every workload that uses it (``on_outputs_changed``);
- ``rotate_due`` rotates every secret whose rotation period has passed (the
  background loop started with the platform runs it every ``interval`` seconds);
- ``redact`` replaces every secret value of a project found in text (``plinth logs``).
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor, Role
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import ResourceEvent, ResourceRecord
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, Forbidden, NotFound
from plinth.core.secrets import SecretBox
from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.infrastructure.store.db import Database

__all__ = ["REDACTED", "RotatesSecrets", "SecretsService", "rotation_seconds"]

log = logging.getLogger(__name__)

REDACTED = "[redacted secret]"
SYSTEM_ACTOR = "system:secret-rotation"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MIN_REDACTED = 6  # shorter outputs (ports, flags) are not secrets worth hiding


@runtime_checkable
class RotatesSecrets(Protocol):
    """Optional provider ability: replace a ``secret`` resource's value."""

    def rotate_secret(self, resource: Resource, state: Any) -> int:
        """Replace the value; return its new version."""
        ...


def rotation_seconds(text: Any) -> int | None:
    """Return a rotation period such as ``30d`` in seconds (None when there is none)."""
    match = re.fullmatch(r"([1-9][0-9]*)([smhd])", str(text or ""))
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def _may_rotate(actor: Actor, team: str) -> bool:
    roles = (Role.DEVELOPER, Role.ML_ENGINEER)
    return actor.has_role(Role.PLATFORM_ENGINEER) or any(
        actor.has_role(r, team=team) for r in roles
    )


def _may_list(actor: Actor, team: str) -> bool:
    return actor.has_role(Role.SECURITY_AUDITOR) or _may_rotate(actor, team)


class SecretsService:
    """The ``platform.secrets`` facade (see the module docs)."""

    def __init__(
        self,
        db: Database,
        *,
        registry: ProviderRegistry,
        box: SecretBox,
        clock: Clock,
        enqueue: Callable[[str], None] | None = None,
        interval: float = 30.0,
    ) -> None:
        self.db, self.registry, self.box, self.clock = db, registry, box, clock
        self.enqueue, self.interval = enqueue, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading ------------------------------------------------------------------

    def list(
        self,
        actor: Actor | None = None,
        *,
        environment: str | None = None,
        project: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Return the metadata of every secret (``actor``: only those it may see)."""
        with self.db.read() as session:
            rows = self._secrets(session, environment=environment, project=project)
            rotated = _last_rotations(session, [r.id for r in rows])
            teams = _teams(session, {r.project for r in rows})
            return [
                self._metadata(r, rotated.get(r.id), teams.get(r.project, ""))
                for r in rows
                if actor is None or _may_list(actor, teams.get(r.project, ""))
            ]

    def _secrets(
        self, session: Session, *, environment: str | None, project: str | None
    ) -> builtins.list[ResourceRecord]:
        stmt = select(ResourceRecord).where(
            ResourceRecord.type == "secret", ResourceRecord.deleting.is_(False)
        )
        if environment:
            stmt = stmt.where(ResourceRecord.environment == environment)
        if project:
            stmt = stmt.where(ResourceRecord.project == project)
        order = (ResourceRecord.environment, ResourceRecord.project, ResourceRecord.name)
        return list(session.scalars(stmt.order_by(*order)))

    def _metadata(
        self, record: ResourceRecord, rotated: datetime | None, team: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        last = rotated or record.created_at
        period = rotation_seconds(record.desired.get("rotation"))
        upcoming = last + timedelta(seconds=period) if period else None
        return {
            "name": record.name,
            "environment": record.environment,
            "project": record.project,
            "team": team,
            "workload": record.workload,
            "phase": record.phase,
            "version": (record.outputs or {}).get("version"),
            "created_at": record.created_at.isoformat(),
            "age_seconds": int((now - record.created_at).total_seconds()),
            "last_rotated_at": rotated.isoformat() if rotated else None,
            "rotation": record.desired.get("rotation"),
            "next_rotation_at": upcoming.isoformat() if upcoming else None,
        }

    # -- rotating -----------------------------------------------------------------

    def rotate(
        self, environment: str, project: str, name: str, actor: Actor | str
    ) -> dict[str, Any]:
        """Give the secret a new value and restart what uses it; return its metadata.

        ``actor`` is a signed-in actor (checked: platform engineers, or developers of the
        project's team) or the name of a platform component acting on its own.
        """
        with self.db.read() as session:
            record = inventory.resources_by_name(
                session, environment=environment, project=project, names=[name]
            ).get(name)
            if record is None or record.type != "secret" or record.deleting:
                raise NotFound(f"no secret named {name!r} in {environment}/{project}")
            if isinstance(actor, Actor):
                team = _teams(session, {project}).get(project, "")
                if not _may_rotate(actor, team):
                    raise Forbidden(
                        f"rotating secrets of {project} needs the platform-engineer role "
                        f"or a developer role in team {team!r}"
                    )
            if record.observed_generation == 0 or record.phase != "ready":
                raise Conflict(f"secret {name!r} is {record.phase}: rotate it once it is ready")
            resource = Resource(
                id=record.id,
                type=record.type,
                name=record.name,
                environment=environment,
                project=project,
                spec=dict(record.desired),
            )
            state = dict(record.state or {})
        provider = self.registry.for_type("secret")
        if not isinstance(provider, RotatesSecrets):
            raise Conflict(f"the {provider.name} provider cannot rotate secrets")
        version = provider.rotate_secret(resource, state)
        who = actor.name if isinstance(actor, Actor) else actor
        with self.db.transaction() as session:
            audit.lock_chain(session)
            row = session.get(ResourceRecord, resource.id)
            if row is not None:
                inventory.add_event(
                    session,
                    row,
                    reason="Rotated",
                    message=f"rotated to version {version} by {who}",
                    at=self.clock.now(),
                )
            audit.append(
                session,
                actor=who,
                action="secret.rotated",
                subject=f"secret/{environment}/{project}/{name}",
                data={"version": version},
                clock=self.clock,
            )
        if self.enqueue is not None:
            self.enqueue(resource.id)
        found = [
            s for s in self.list(environment=environment, project=project) if s["name"] == name
        ]
        return found[0] | {"version": version} if found else {"name": name, "version": version}

    def due(self) -> builtins.list[dict[str, Any]]:
        """Return the metadata of the secrets whose rotation is due now."""
        now = self.clock.now()
        return [
            s
            for s in self.list()
            if s["next_rotation_at"] and datetime.fromisoformat(s["next_rotation_at"]) <= now
        ]

    def rotate_due(self) -> builtins.list[dict[str, Any]]:
        """Rotate every secret whose rotation period has passed; return what was rotated."""
        done: builtins.list[dict[str, Any]] = []
        for item in self.due():
            try:
                done.append(
                    self.rotate(item["environment"], item["project"], item["name"], SYSTEM_ACTOR)
                )
            except (Conflict, NotFound) as exc:
                log.info("secret %s not rotated: %s", item["name"], exc)
        return done

    # -- redaction ----------------------------------------------------------------

    def values(self, *, environment: str, project: str) -> builtins.list[str]:
        """Return every secret output value of the project's resources (for redaction only)."""
        with self.db.read() as session:
            rows = session.scalars(
                select(ResourceRecord.sealed_outputs).where(
                    ResourceRecord.environment == environment,
                    ResourceRecord.project == project,
                    ResourceRecord.sealed_outputs != "",
                )
            ).all()
        found: set[str] = set()
        for sealed in rows:
            _strings(json.loads(self.box.open(sealed)), found)
        return sorted((v for v in found if len(v) >= _MIN_REDACTED), key=len, reverse=True)

    def redact(self, lines: Iterable[str], *, environment: str, project: str) -> builtins.list[str]:
        """Return ``lines`` with every secret value of the project replaced by ``REDACTED``."""
        values = self.values(environment=environment, project=project)
        if not values:
            return list(lines)
        pattern = re.compile("|".join(re.escape(v) for v in values))
        return [pattern.sub(REDACTED, line) for line in lines]

    # -- background rotation --------------------------------------------------------

    def start(self) -> None:
        """Rotate due secrets every ``interval`` seconds in a background thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="plinth-secrets", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background rotation and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.rotate_due()
            except Exception:  # keep rotating later; the next sweep tries again
                log.exception("secret rotation sweep failed")


def _strings(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def _last_rotations(session: Session, ids: list[str]) -> dict[str, datetime]:
    if not ids:
        return {}
    stmt = (
        select(ResourceEvent.resource_id, func.max(ResourceEvent.at))
        .where(ResourceEvent.resource_id.in_(ids), ResourceEvent.reason == "Rotated")
        .group_by(ResourceEvent.resource_id)
    )
    return {rid: at for rid, at in session.execute(stmt)}


def _teams(session: Session, projects: set[str]) -> dict[str, str]:
    teams: dict[str, str] = {}
    for name in projects:
        try:
            teams[name] = identity.project_team(session, identity.get_project(session, name))
        except NotFound:
            teams[name] = ""
    return teams
