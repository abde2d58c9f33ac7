"""Documents the orchestration tests send, and small helpers around a platform."""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import func, select

from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.orchestration.platform import Platform

__all__ = [
    "PROD_READY",
    "application",
    "audit_actions",
    "converge",
    "count",
    "resource",
    "resources",
    "workload",
]


# What the default policy pack asks of a workload in production: limits and a pinned image.
PROD_READY: dict[str, Any] = {
    "image": "registry.local/app@sha256:" + "0" * 64,
    "limits": {"cpu": "500m", "memory": "256Mi"},
}


def workload(
    name: str,
    *,
    image: str = "registry.local/app:1",
    db: str | None = "db",
    shared_db: str | None = None,
    database: str | None = None,
    variables: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
) -> str:
    """Return a Score workload with a web port, optionally with a (shared) PostgreSQL database."""
    env = dict(variables or {})
    resources: dict[str, Any] = {}
    if db is not None:
        declared: dict[str, Any] = {"type": "postgres"}
        if shared_db is not None:
            declared["id"] = shared_db
        if database is not None:
            declared["params"] = {"database": database}
        resources[db] = declared
        env.setdefault("DATABASE_URL", f"${{resources.{db}.uri}}")
    doc: dict[str, Any] = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": name},
        "service": {"ports": {"web": {"port": 8080}}},
        "containers": {"main": {"image": image, "variables": env}},
    }
    if limits is not None:  # production needs limits and a pinned image (policy default pack)
        doc["containers"]["main"]["resources"] = {"limits": limits}
    if resources:
        doc["resources"] = resources
    return yaml.safe_dump(doc, sort_keys=False)


def application(
    name: str,
    *,
    version: str | None = "1.0.0",
    memory: str | None = "512Mi",
    template: str = "web-service",
) -> str:
    """Return an Application of a built-in template, with a memory-limit override."""
    spec: dict[str, Any] = {"template": template, "parameters": {}}
    if version is not None:
        spec["version"] = version
    if memory is not None:
        spec["overrides"] = [{"path": "containers.main.resources.limits.memory", "value": memory}]
    doc = {"apiVersion": "plinth.dev/v1", "kind": "Application", "metadata": {"name": name}}
    return yaml.safe_dump({**doc, "spec": spec}, sort_keys=False)


def count(platform: Platform, model: type[Any]) -> int:
    """Return how many rows a table holds."""
    with platform.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def resources(platform: Platform) -> dict[str, ResourceRecord]:
    """Return every resource record by name (detached, read-only use)."""
    with platform.db.transaction() as session:
        return {r.name: r for r in session.scalars(select(ResourceRecord))}


def resource(platform: Platform, name: str) -> ResourceRecord:
    """Return one resource record by name."""
    return resources(platform)[name]


def audit_actions(platform: Platform) -> list[str]:
    """Return the action of every audit record, oldest first."""
    with platform.db.transaction() as session:
        return list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))


def converge(platform: Platform, *, rounds: int = 6) -> None:
    """Reconcile every resource, synchronously, until a round changes nothing."""
    for _ in range(rounds):
        before = _fingerprint(platform)
        with platform.db.transaction() as session:
            ids = list(session.scalars(select(ResourceRecord.id).order_by(ResourceRecord.id)))
        for resource_id in ids:
            platform.reconciler.reconcile(resource_id)
        if _fingerprint(platform) == before:
            return


def _fingerprint(platform: Platform) -> list[tuple[str, int, str, int]]:
    with platform.db.transaction() as session:
        rows = session.execute(
            select(
                ResourceRecord.name,
                ResourceRecord.version,
                ResourceRecord.phase,
                ResourceRecord.observed_generation,
            ).order_by(ResourceRecord.name)
        )
        return [(n, v, p, g) for n, v, p, g in rows]
