"""What policy needs from the store: packs in force, exceptions, and document checks.

``policy_facts`` fills ``PlanView.extra["policy"]`` for the policy gate;
``check_policy_document`` and ``check_exception_document`` are what the planner asks
when a ``Policy`` or ``PolicyException`` document is planned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import DocumentRecord
from plinth.capabilities.policy import (
    Pack,
    PolicyEngine,
    PolicyExceptionRule,
    in_force,
    pack_from_document,
    require_valid,
    require_valid_exception,
)
from plinth.core.documents import Document
from plinth.core.errors import Issue, SpecError

__all__ = [
    "check_exception_document",
    "check_policy_document",
    "exception_rules",
    "packs_in_force",
    "policy_facts",
]


def _bodies(session: Session, kind: str) -> list[dict[str, Any]]:
    stmt = select(DocumentRecord.body).where(DocumentRecord.kind == kind)
    return [dict(b) for b in session.scalars(stmt)]


def packs_in_force(session: Session) -> list[Pack]:
    """Return the built-in packs and the newest version of each Policy document."""
    return in_force(_bodies(session, "Policy"))


def exception_rules(session: Session) -> list[PolicyExceptionRule]:
    """Return every stored PolicyException (expired ones too: the gate checks the time)."""
    found = (PolicyExceptionRule.from_document(b) for b in _bodies(session, "PolicyException"))
    return sorted((e for e in found if e is not None), key=lambda e: e.name)


def _project_labels(session: Session, project: str) -> dict[str, str]:
    record = inventory.get_document(session, kind="Project", name=project)
    if record is None:
        return {}
    labels = (record.body.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def policy_facts(session: Session, *, environment: str, project: str) -> dict[str, Any]:
    """Return what the policy gate needs beyond the plan (for ``PlanView.extra["policy"]``)."""
    env = identity.get_environment(session, environment)
    return {
        "packs": packs_in_force(session),
        "exceptions": exception_rules(session),
        "environment": {"region": env.region},
        "project": {"labels": _project_labels(session, project)},
    }


def check_policy_document(session: Session, doc: Document) -> str:
    """Validate a planned Policy document (shape, immutability, Rego); return its label."""
    require_valid(doc.raw, index=doc.index, file=doc.file)
    pack = pack_from_document(doc.raw)
    existing = inventory.get_document(session, kind="Policy", name=doc.name, label=pack.version)
    if existing is not None and pack_from_document(existing.body).key != pack.key:
        message = (
            f"policy {doc.name} version {pack.version} is already published and versions are "
            "immutable: publish it under a new version"
        )
        raise SpecError([Issue(message, "$.spec.version", doc.index, doc.file)])
    try:
        PolicyEngine([pack]).check()
    except SpecError as exc:
        raise SpecError(
            [Issue(i.message, i.path, doc.index, doc.file) for i in exc.issues]
        ) from exc
    return pack.version


def check_exception_document(doc: Document, *, now: datetime) -> None:
    """Validate a planned PolicyException: owner, justification, expiry within 90 days."""
    require_valid_exception(doc.raw, now=now, index=doc.index, file=doc.file)
