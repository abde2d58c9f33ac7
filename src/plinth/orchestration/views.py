"""Read models: workloads and resources as people and agents want to see them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.core.secrets import SecretBox

__all__ = ["application_summary", "resource_as_dict", "workload_detail", "workload_summary"]

SECRET = "<secret>"


def resource_as_dict(record: ResourceRecord, box: SecretBox) -> dict[str, Any]:
    """Return a resource as API data; secret outputs are named, never shown."""
    outputs: dict[str, Any] = dict(record.outputs or {})
    if record.sealed_outputs:
        outputs.update({k: SECRET for k in json.loads(box.open(record.sealed_outputs))})
    return {
        "id": record.id,
        "name": record.name,
        "type": record.type,
        "provider": record.provider,
        "environment": record.environment,
        "project": record.project,
        "workload": record.workload,
        "refs": record.refs,
        "phase": "deleting" if record.deleting else record.phase,
        "healthy": record.healthy,
        "outputs": outputs,
        "message": record.message,
        "generation": record.generation,
        "observed_generation": record.observed_generation,
        "spec": record.desired,
        "updated_at": record.updated_at,
    }


def _aggregate(resources: list[ResourceRecord], name: str) -> tuple[str, bool | None, str]:
    own = next((r for r in resources if r.name == name), None)
    kind = own.type if own else "workload"
    if not resources:
        return "pending", None, kind
    if any(r.phase == "failed" for r in resources):
        return "failed", False, kind
    if any(r.deleting for r in resources):
        return "deleting", None, kind
    settling = ("pending", "waiting", "retrying")
    if any(r.observed_generation < r.generation or r.phase in settling for r in resources):
        return "progressing", None, kind
    healthy_values = [r.healthy for r in resources if r.healthy is not None]
    healthy = all(healthy_values) if healthy_values else None
    return (own.phase if own else "ready"), healthy, kind


def workload_summary(session: Session, record: DocumentRecord) -> dict[str, Any]:
    """Return one line about a workload: where, what, and how it is doing."""
    resources = inventory.resources_of(
        session, environment=record.environment, project=record.project, workload=record.name
    )
    phase, healthy, kind = _aggregate(resources, record.name)
    annotations = (record.body.get("metadata") or {}).get("annotations") or {}
    return {
        "name": record.name,
        "environment": record.environment,
        "project": record.project,
        "type": kind,
        "phase": phase,
        "healthy": healthy,
        "application": record.owner or None,
        "template": annotations.get("plinth.dev/template"),
        "template_version": annotations.get("plinth.dev/template-version"),
        "revision": record.revision,
        "updated_at": record.updated_at,
    }


def workload_detail(
    session: Session, record: DocumentRecord, box: SecretBox, *, with_history: bool
) -> dict[str, Any]:
    """Return a workload with its resources (and, when asked, events and history)."""
    resources = inventory.resources_of(
        session, environment=record.environment, project=record.project, workload=record.name
    )
    detail = workload_summary(session, record)
    detail["document"] = record.body
    detail["resources"] = [resource_as_dict(r, box) for r in resources]
    if with_history:
        events = inventory.events_for(
            session,
            environment=record.environment,
            project=record.project,
            resource_names=[r.name for r in resources] or [record.name],
        )
        detail["events"] = [
            {"at": e.at, "resource": e.resource, "reason": e.reason, "message": e.message}
            for e in events
        ]
        key = inventory.document_key("Workload", record.environment, record.project, record.name)
        detail["history"] = [
            {
                "revision": h.revision,
                "at": h.at,
                "actor": h.actor,
                "action": h.action,
                "plan": h.plan_digest,
                "digest": h.digest,
            }
            for h in inventory.history(session, key)
        ]
    return detail


READY = ("running", "ready", "succeeded", "scheduled")


def application_summary(session: Session, record: DocumentRecord) -> dict[str, Any]:
    """Return an application with the template it uses and its workloads' combined status."""
    status = record.body.get("status", {})
    workloads = [
        workload_summary(session, w)
        for w in inventory.list_documents(
            session,
            kind="Workload",
            environment=record.environment,
            project=record.project,
            owner=record.name,
            limit=500,
        ).items
    ]
    phases = [w["phase"] for w in workloads]
    phase = next((p for p in phases if p not in READY), "ready") if workloads else "pending"
    healthy_values = [w["healthy"] for w in workloads if w["healthy"] is not None]
    return {
        "name": record.name,
        "environment": record.environment,
        "project": record.project,
        "phase": phase,
        "healthy": all(healthy_values) if healthy_values else None,
        "template": status.get("template"),
        "template_version": status.get("templateVersion"),
        "parameters": status.get("parameters"),
        "overrides": record.body.get("spec", {}).get("overrides", []),
        "revision": record.revision,
        "updated_at": record.updated_at,
        "workloads": workloads,
    }
