"""Attribution: who owns a metered resource, from the store first and labels second.

A resource the store knows is attributed to its environment, project,
provider and type, and to the team that owns its project; labels cannot move
its cost elsewhere. Anything else is attributed by its own labels; without a
team (directly, or through a project the store knows) it stays *unattributed*:
written with an empty team and shown as such in every report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.finops.rating import requested_of
from plinth.capabilities.identity.models import EnvironmentRow, ProjectRow, TeamRow
from plinth.capabilities.inventory.models import ResourceRecord

__all__ = [
    "Labels",
    "Owner",
    "OwnerCache",
    "environment_regions",
    "load_owners",
    "owner_labels",
    "project_teams",
]

_CHUNK = 500
_MAX_REMEMBERED = 50_000
# What each desired spec (by its digest) reserves: specs repeat, and their digest says
# when one changed, so a batch reads and parses only the specs it has not seen yet.
_REQUESTS: dict[str, tuple[float | None, float | None]] = {}


@dataclass(frozen=True)
class Labels:
    """The attribution columns of one ledger row."""

    resource_name: str
    resource_type: str
    provider: str
    region: str
    environment: str
    project: str
    team: str

    def as_dict(self) -> dict[str, str]:
        """Return the labels as ledger columns."""
        return {
            "resource_name": self.resource_name,
            "resource_type": self.resource_type,
            "provider": self.provider,
            "region": self.region,
            "environment": self.environment,
            "project": self.project,
            "team": self.team,
        }


@dataclass(frozen=True)
class Owner:
    """What the store knows about a metered resource, and what its spec reserves."""

    labels: Labels
    cpu: float | None  # cores reserved
    memory: float | None  # bytes reserved


def load_owners(session: Session, ids: Iterable[str]) -> dict[str, Owner]:
    """Return the owner of every resource id the store knows (unknown ids are left out)."""
    records: list[Any] = []
    ordered = sorted(set(ids))
    columns = (
        ResourceRecord.id,
        ResourceRecord.name,
        ResourceRecord.type,
        ResourceRecord.provider,
        ResourceRecord.environment,
        ResourceRecord.project,
        ResourceRecord.desired_digest,
    )
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        records.extend(session.execute(select(*columns).where(ResourceRecord.id.in_(chunk))))
    _learn_requests(session, [r.id for r in records if r.desired_digest not in _REQUESTS])
    teams = project_teams(session, {r.project for r in records})
    regions = environment_regions(session, {r.environment for r in records})
    owners = {}
    for r in records:
        cpu, memory = _REQUESTS.get(r.desired_digest, (None, None))
        labels = Labels(
            resource_name=r.name,
            resource_type=r.type,
            provider=r.provider,
            region=regions.get(r.environment, ""),
            environment=r.environment,
            project=r.project,
            team=teams.get(r.project, ""),
        )
        owners[r.id] = Owner(labels, cpu, memory)
    return owners


def _learn_requests(session: Session, ids: list[str]) -> None:
    """Read the reservations of specs not seen before (specs are known by their digest)."""
    if len(_REQUESTS) > _MAX_REMEMBERED:
        _REQUESTS.clear()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        stmt = select(ResourceRecord.desired_digest, ResourceRecord.desired).where(
            ResourceRecord.id.in_(chunk)
        )
        for spec_digest, desired in session.execute(stmt):
            _REQUESTS[spec_digest] = requested_of(desired or {})


class OwnerCache:
    """Owners of known resources, remembered for ``ttl_s`` seconds across batches.

    Ownership (project, team, reservations) changes rarely and a busy sender
    reports the same resources every few seconds: a cache saves a large read per
    batch. A change shows within ``ttl_s``; ids the store does not know are
    looked up again every time, so a new resource is attributed at once.
    """

    def __init__(self, ttl_s: float = 5.0, *, max_size: int = 100_000) -> None:
        self.ttl_s, self.max_size = ttl_s, max_size
        self._known: dict[str, Owner] = {}
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def owners(self, session: Session, ids: Iterable[str]) -> dict[str, Owner]:
        """Return the owner of every id the store knows, from memory where fresh."""
        wanted = set(ids)
        with self._lock:
            if time.monotonic() - self._since > self.ttl_s or len(self._known) > self.max_size:
                self._known, self._since = {}, time.monotonic()
            known = self._known
            missing = wanted - known.keys()
        loaded = load_owners(session, missing) if missing else {}
        with self._lock:
            self._known.update(loaded)
        found = {i: known[i] for i in wanted if i in known}
        found.update(loaded)
        return found


def project_teams(session: Session, projects: Iterable[str]) -> dict[str, str]:
    """Return the owning team of each named project the store knows."""
    names = sorted({p for p in projects if p})
    if not names:
        return {}
    stmt = (
        select(ProjectRow.name, TeamRow.name)
        .join(TeamRow, TeamRow.id == ProjectRow.team_id)
        .where(ProjectRow.name.in_(names))
    )
    return {project: team for project, team in session.execute(stmt)}


def environment_regions(session: Session, environments: Iterable[str]) -> dict[str, str]:
    """Return the region of each named environment the store knows."""
    names = sorted({e for e in environments if e})
    if not names:
        return {}
    stmt = select(EnvironmentRow.name, EnvironmentRow.region).where(EnvironmentRow.name.in_(names))
    return {name: region for name, region in session.execute(stmt)}


def owner_labels(owner: Owner, *, region: str, team: str) -> Labels:
    """Return a known resource's labels, filling a missing region or team from the sample."""
    labels = owner.labels
    if labels.region and labels.team:
        return labels
    return Labels(
        resource_name=labels.resource_name,
        resource_type=labels.resource_type,
        provider=labels.provider,
        region=labels.region or region,
        environment=labels.environment,
        project=labels.project,
        team=labels.team or team,
    )
