"""Checks of the documents that govern agents: Agent, McpServer, AuthorizationPolicy.

Each is an organisation kind: a platform engineer applies it through the one
path. The JSON Schema has already been checked; these are the checks that need
the store (the owner team exists) or another engine (the Cedar text parses).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from plinth.capabilities.agents.spec import parse_agent_spec
from plinth.capabilities.authz import authorizer_for
from plinth.capabilities.identity import service as identity
from plinth.capabilities.inventory import service as inventory
from plinth.core.documents import Document
from plinth.core.errors import InvalidInput, Issue, SpecError

__all__ = ["AGENT_KINDS", "policy_sets", "validate_agent_document"]

AGENT_KINDS = ("Agent", "McpServer", "AuthorizationPolicy")


def _fail(doc: Document, message: str, path: str) -> SpecError:
    return SpecError([Issue(message, path, doc.index, doc.file)])


def validate_agent_document(session: Session, doc: Document, *, teams: set[str]) -> None:
    """Raise SpecError (with the JSON path) if an agent-governing document is invalid."""
    if doc.kind == "Agent":
        try:
            spec = parse_agent_spec(doc.name, doc.spec)
        except InvalidInput as exc:
            raise _fail(doc, exc.detail, "$.spec") from None
        _require_team(session, doc, spec.team, "$.spec.team", teams)
    elif doc.kind == "McpServer":
        owner = str(doc.spec.get("owner", ""))
        _require_team(session, doc, owner, "$.spec.owner", teams)
    elif doc.kind == "AuthorizationPolicy":
        try:
            authorizer_for([(doc.name, str(doc.spec.get("cedar", "")))])
        except InvalidInput as exc:
            raise _fail(doc, exc.detail, "$.spec.cedar") from None


def _require_team(session: Session, doc: Document, team: str, path: str, teams: set[str]) -> None:
    if team in teams or identity.find_team(session, team) is not None:
        return
    raise _fail(doc, f"no team named {team!r}", path)


def policy_sets(session: Session) -> tuple[tuple[str, str], ...]:
    """Return the AuthorizationPolicy documents as (name, Cedar text), sorted by name."""
    docs = inventory.list_documents(session, kind="AuthorizationPolicy", limit=500).items
    return tuple(sorted((d.name, str((d.body.get("spec") or {}).get("cedar", ""))) for d in docs))
