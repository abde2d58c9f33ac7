"""What policy needs from the store: packs in force, exceptions, and document checks.

``policy_facts`` fills ``PlanView.extra["policy"]`` for the policy gate;
``check_policy_document`` and ``check_exception_document`` are what the planner asks
when a ``Policy`` or ``PolicyException`` document is planned.

Every plan reads the digests of the ``Policy`` and ``PolicyException`` documents (one
query) and parses only bodies it has not seen: packs and exceptions are kept by document
digest, so a changed or new document (a new digest) is read and parsed again, and a
pack's compiled form in the workers stays keyed by what it compiles.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.capabilities.policy import (
    Pack,
    PolicyEngine,
    PolicyExceptionRule,
    newest_packs,
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


_KINDS = ("Policy", "PolicyException")
_CACHE_LIMIT = 512
# (kind, digest) -> the body as parsed (a Policy's body, or the exception it declares).
_PARSED: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _parse(kind: str, body: dict[str, Any]) -> Any:
    return pack_from_document(body) if kind == "Policy" else PolicyExceptionRule.from_document(body)


def _documents(session: Session, kinds: tuple[str, ...]) -> dict[str, list[Any]]:
    """Return each kind's documents, parsed, reading only bodies not seen before."""
    rows = session.execute(
        select(DocumentRecord.id, DocumentRecord.kind, DocumentRecord.digest)
        .where(DocumentRecord.kind.in_(kinds))
        .order_by(DocumentRecord.id)
    ).all()
    with _LOCK:
        known = {(k, d): _PARSED[(k, d)] for _, k, d in rows if d and (k, d) in _PARSED}
    missing = [i for i, k, d in rows if (k, d) not in known]
    bodies: dict[str, dict[str, Any]] = {}
    if missing:
        stmt = select(DocumentRecord.id, DocumentRecord.body).where(DocumentRecord.id.in_(missing))
        bodies = {i: dict(b) for i, b in session.execute(stmt).all()}
    found: dict[str, list[Any]] = {kind: [] for kind in kinds}
    for doc_id, kind, doc_digest in rows:
        if (kind, doc_digest) in known:
            found[kind].append(known[(kind, doc_digest)])
            continue
        parsed = _parse(kind, bodies[doc_id])
        found[kind].append(parsed)
        if doc_digest:  # the digest is of the body: the same digest is the same document
            with _LOCK:
                if len(_PARSED) >= _CACHE_LIMIT:
                    _PARSED.clear()
                _PARSED[(kind, doc_digest)] = parsed
    return found


def _packs(found: list[Any]) -> list[Pack]:
    return newest_packs(found)


def _exceptions(found: list[Any]) -> list[PolicyExceptionRule]:
    return sorted((e for e in found if e is not None), key=lambda e: e.name)


def packs_in_force(session: Session) -> list[Pack]:
    """Return the built-in packs and the newest version of each Policy document."""
    return _packs(_documents(session, ("Policy",))["Policy"])


def exception_rules(session: Session) -> list[PolicyExceptionRule]:
    """Return every stored PolicyException (expired ones too: the gate checks the time)."""
    return _exceptions(_documents(session, ("PolicyException",))["PolicyException"])


def _project_labels(session: Session, project: str) -> dict[str, str]:
    record = inventory.get_document(session, kind="Project", name=project)
    if record is None:
        return {}
    labels = (record.body.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def policy_facts(
    session: Session, *, environment: str, project: str, names: set[str] | None = None
) -> dict[str, Any]:
    """Return what the policy gate needs beyond the plan (for ``PlanView.extra["policy"]``).

    ``names``: the plan's resource names; only those are looked up as realised (a plan
    never needs the whole project's list, which grows with the organisation).
    """
    env = identity.get_environment(session, environment)
    found = _documents(session, _KINDS)
    return {
        "packs": _packs(found["Policy"]),
        "exceptions": _exceptions(found["PolicyException"]),
        "environment": {"region": env.region},
        "project": {"labels": _project_labels(session, project)},
        "realised": _realised(session, environment=environment, project=project, names=names),
    }


def _realised(
    session: Session, *, environment: str, project: str, names: set[str] | None
) -> list[str]:
    """Return which resources (of ``names``, or all) a provider has realised at least once."""
    stmt = select(ResourceRecord.name).where(
        ResourceRecord.environment == environment,
        ResourceRecord.project == project,
        ResourceRecord.applied_digest != "",
    )
    if names is not None:
        stmt = stmt.where(ResourceRecord.name.in_(sorted(names)))
    return sorted(session.scalars(stmt))


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
