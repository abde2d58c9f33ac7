"""Trust roots of the model registry: the keys and CA certificates signatures must chain to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.models.models import ModelTrust
from plinth.capabilities.models.schemas import NAME_PATTERN
from plinth.capabilities.models.signing import TrustRoot, trust_root
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, InvalidInput, NotFound

__all__ = ["add_trust", "list_trust", "remove_trust", "trust_as_dict", "trust_roots"]


def trust_roots(session: Session) -> list[TrustRoot]:
    """Return every trusted model-signing key and CA certificate."""
    rows = session.scalars(select(ModelTrust).order_by(ModelTrust.name))
    return [TrustRoot(r.name, r.kind, r.pem, r.fingerprint, r.subject) for r in rows]


def list_trust(session: Session) -> list[ModelTrust]:
    """Return the trust roots as rows, by name."""
    return list(session.scalars(select(ModelTrust).order_by(ModelTrust.name)))


def add_trust(
    session: Session, *, name: str, pem: str | bytes, actor: str, clock: Clock
) -> ModelTrust:
    """Trust a public key or CA certificate for model signatures (idempotent for the same PEM)."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"{name!r} is not a valid trust root name (lower-case letters, digits, -)"
        )
    root = trust_root(name, pem)
    existing = session.get(ModelTrust, name)
    if existing is not None:
        if existing.fingerprint == root.fingerprint:
            return existing
        raise Conflict(f"trust root {name} already exists with another key; remove it first")
    row = ModelTrust(
        name=name,
        kind=root.kind,
        pem=root.pem,
        fingerprint=root.fingerprint,
        subject=root.subject,
        created_at=clock.now(),
        created_by=actor,
    )
    session.add(row)
    audit.append(
        session,
        actor=actor,
        action="model.trust.add",
        subject=f"model-trust/{name}",
        data=trust_as_dict(row),
        clock=clock,
    )
    return row


def remove_trust(session: Session, *, name: str, actor: str, clock: Clock) -> None:
    """Stop trusting a key or certificate: versions it signed no longer verify."""
    row = session.get(ModelTrust, name)
    if row is None:
        raise NotFound(f"no model trust root named {name}")
    session.delete(row)
    audit.append(
        session,
        actor=actor,
        action="model.trust.remove",
        subject=f"model-trust/{name}",
        data={"fingerprint": row.fingerprint},
        clock=clock,
    )


def trust_as_dict(row: ModelTrust) -> dict[str, Any]:
    """Return a trust root as JSON data (public material only)."""
    return {
        "name": row.name,
        "kind": row.kind,
        "fingerprint": row.fingerprint,
        "subject": row.subject,
        "created_by": row.created_by,
    }
