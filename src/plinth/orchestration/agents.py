"""Agents as platform users: listing them, issuing and revoking their signed tokens.

Registering an agent is a change like any other: an ``Agent`` document goes
through plan, gates and apply (the applier calls ``upsert_agent``). What is
here are the operations that are not changes of desired state: tokens and
signing keys. Each is authorized here and recorded on the audit chain.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.agents import service as agents
from plinth.capabilities.agents.models import AgentRow, AgentTokenRow
from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor, Role
from plinth.core.clock import Clock
from plinth.core.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from plinth.core.ids import IdFactory
from plinth.core.secrets import SecretBox
from plinth.infrastructure.store.db import Database
from plinth.infrastructure.store.pagination import Page, paginate
from plinth.orchestration.agent_documents import policy_sets

__all__ = [
    "AUDIENCES",
    "AgentDirectory",
    "PolicyCache",
    "agent_as_dict",
    "audit_refusal",
    "authenticate",
    "issue_token",
    "list_agents",
    "require_agent",
    "revoke_tokens",
    "rotate_keys",
    "tokens_of",
]

AUDIENCES = ("plinth-api", "plinth-mcp", "plinth-gateway")
_TOKEN_ROLES = (Role.DEVELOPER, Role.ML_ENGINEER, Role.RELEASE_MANAGER, Role.PLATFORM_ENGINEER)


def authenticate(
    session: Session, token: str | None, *, audience: str, box: SecretBox, clock: Clock
) -> Actor:
    """Return who a bearer token belongs to: a human's opaque token or an agent's JWT.

    The two never stand in for each other: a signed token is only ever an agent's,
    valid only for its audience; an opaque token is never accepted for a registered
    agent; and the MCP endpoints (audiences other than ``plinth-api``) take agents only.
    """
    if token and agents.looks_like_jwt(token):
        return agents.authenticate_agent(session, token, audience=audience, box=box, clock=clock)
    if token and audience != "plinth-api":
        raise Unauthenticated(
            f"{audience} accepts agent tokens only: issue one with "
            f"'plinth agents token <agent> --audience {audience}'"
        )
    actor = identity.authenticate(session, token)
    if actor.kind == "agent" and agents.is_registered_agent(session, actor.id):
        raise Unauthenticated(
            f"{actor.name} is a registered agent: it authenticates with its signed tokens only"
        )
    return actor


def audit_refusal(
    session: Session, token: str, *, audience: str, reason: str, clock: Clock
) -> None:
    """Record a refused agent token on the audit chain (its claims, never the token)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    audit.append(
        session,
        actor=str(claims.get("sub", "unknown"))[:100] if isinstance(claims, dict) else "unknown",
        action="agent.auth.refused",
        subject=f"audience/{audience}",
        data={
            "reason": reason,
            "jti": str(claims.get("jti", ""))[:100],
            "token_audience": str(claims.get("aud", ""))[:100],
        },
        clock=clock,
    )


def require_agent(session: Session, name: str) -> AgentRow:
    """Return a registered agent, or raise NotFound."""
    row = agents.get_agent(session, name)
    if row is None:
        raise NotFound(f"no agent named {name!r}: register it by applying an Agent document")
    return row


def _may_manage(actor: Actor, row: AgentRow) -> None:
    """Raise Forbidden unless a human of the agent's team (or a platform engineer) asks."""
    if actor.kind != "human":
        raise Forbidden(
            f"only humans manage agent tokens: {actor.name} is a {actor.kind}, and an agent "
            "can never mint or widen its own credentials"
        )
    if actor.has_role(Role.PLATFORM_ENGINEER):
        return
    if not any(actor.has_role(r, team=row.team) for r in _TOKEN_ROLES):
        raise Forbidden(
            f"managing the tokens of agent {row.name!r} needs a change role in its owner team "
            f"{row.team!r} or the platform-engineer role"
        )


def agent_as_dict(row: AgentRow) -> dict[str, Any]:
    """Return an agent as API data: its declared concerns and its autonomy envelope."""
    spec = agents.agent_spec(row)
    autonomy = spec.autonomy
    return {
        "name": row.name,
        "team": row.team,
        "purpose": spec.purpose,
        "disabled": row.disabled_at is not None,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "audiences": list(spec.audiences),
        "token_ttl_seconds": spec.token_ttl_seconds,
        "spec": row.spec,
        "autonomy": {
            "actions": list(autonomy.actions),
            "environments": list(autonomy.environments),
            "max_cost_delta_per_change": _money(autonomy.max_cost_delta_per_change),
            "max_cost_delta_per_day": _money(autonomy.max_cost_delta_per_day),
            "max_accelerators": autonomy.max_accelerators,
            "may_delete": autonomy.may_delete,
            "may_touch_prod": autonomy.may_touch_prod,
            "approval_ttl_seconds": autonomy.approval_ttl_seconds,
        },
    }


def _money(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}"


def list_agents(session: Session, *, limit: int, page_token: str | None) -> Page[AgentRow]:
    """Return a page of agents by name."""
    return paginate(session, select(AgentRow), AgentRow.name, limit=limit, page_token=page_token)


def issue_token(
    session: Session,
    actor: Actor,
    name: str,
    *,
    audience: str,
    ttl_seconds: int | None,
    box: SecretBox,
    ids: IdFactory,
    clock: Clock,
) -> dict[str, Any]:
    """Issue a short-lived token for an agent (the plaintext is returned once)."""
    row = require_agent(session, name)
    _may_manage(actor, row)
    spec = agents.agent_spec(row)
    if audience not in AUDIENCES:
        raise InvalidInput(f"unknown audience {audience!r}: use one of {', '.join(AUDIENCES)}")
    if audience not in spec.audiences:
        raise InvalidInput(
            f"agent {name!r} declares the audiences {', '.join(spec.audiences)}: "
            f"add {audience!r} to spec.identity.audiences to get tokens for it"
        )
    if row.disabled_at is not None:
        raise InvalidInput(f"agent {name!r} is disabled: it gets no new tokens")
    scopes = sorted(set(spec.actions))
    issued = agents.issue_agent_token(
        session,
        agent=name,
        audience=audience,
        ttl_seconds=ttl_seconds,
        scopes=scopes,
        box=box,
        ids=ids,
        clock=clock,
    )
    audit.append(
        session,
        actor=actor.name,
        action="agent.token.issued",
        subject=f"agent/{name}",
        data={"jti": issued.jti, "audience": audience, "expires_at": issued.expires_at.isoformat()},
        clock=clock,
    )
    return {
        "agent": name,
        "token": issued.token,
        "jti": issued.jti,
        "audience": audience,
        "scopes": scopes,
        "expires_at": issued.expires_at,
    }


def revoke_tokens(
    session: Session, actor: Actor, name: str, *, jti: str | None, clock: Clock
) -> dict[str, Any]:
    """Revoke one token of an agent, or all of them; effective on the next request."""
    row = require_agent(session, name)
    _may_manage(actor, row)
    count = agents.revoke(session, agent=name, jti=jti, actor=actor.name, clock=clock)
    if jti is not None and count == 0:
        raise NotFound(f"agent {name!r} has no live token {jti!r}")
    audit.append(
        session,
        actor=actor.name,
        action="agent.token.revoked",
        subject=f"agent/{name}",
        data={"jti": jti, "revoked": count},
        clock=clock,
    )
    return {"agent": name, "revoked": count}


def tokens_of(session: Session, actor: Actor, name: str) -> list[dict[str, Any]]:
    """Return the tokens issued to an agent (never the token text)."""
    row = require_agent(session, name)
    _may_manage(actor, row)
    rows = session.scalars(
        select(AgentTokenRow)
        .where(AgentTokenRow.agent_id == row.id)
        .order_by(AgentTokenRow.issued_at.desc())
    )
    return [
        {
            "jti": t.jti,
            "audience": t.audience,
            "scopes": list(t.scopes or []),
            "issued_at": t.issued_at,
            "expires_at": t.expires_at,
            "revoked_at": t.revoked_at,
        }
        for t in rows
    ]


def rotate_keys(
    session: Session, actor: Actor, *, box: SecretBox, ids: IdFactory, clock: Clock
) -> dict[str, Any]:
    """Start signing agent tokens with a new key (platform engineers only)."""
    if actor.kind != "human" or not actor.has_role(Role.PLATFORM_ENGINEER):
        raise Forbidden("rotating the agents' signing key needs a human platform engineer")
    kid = agents.rotate_signing_key(session, box=box, ids=ids, clock=clock)
    audit.append(
        session,
        actor=actor.name,
        action="agent.keys.rotated",
        subject=f"key/{kid}",
        data={"kid": kid},
        clock=clock,
    )
    return {"kid": kid}


class AgentDirectory:
    """The agent operations of the platform, each in its own transaction."""

    def __init__(self, db: Database, *, box: SecretBox, ids: IdFactory, clock: Clock) -> None:
        self.db, self.box, self.ids, self.clock = db, box, ids, clock

    def page(
        self, *, limit: int, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Return a page of agents and the next page's token."""
        with self.db.read() as session:
            page = list_agents(session, limit=limit, page_token=page_token)
            return [agent_as_dict(r) for r in page.items], page.next_page_token

    def get(self, name: str) -> dict[str, Any]:
        """Return one agent."""
        with self.db.read() as session:
            return agent_as_dict(require_agent(session, name))

    def tokens(self, actor: Actor, name: str) -> list[dict[str, Any]]:
        """Return an agent's tokens (metadata only)."""
        with self.db.read() as session:
            return tokens_of(session, actor, name)

    def issue(
        self, actor: Actor, name: str, *, audience: str, ttl_seconds: int | None
    ) -> dict[str, Any]:
        """Issue a token for an agent."""
        with self.db.transaction() as session:
            return issue_token(
                session,
                actor,
                name,
                audience=audience,
                ttl_seconds=ttl_seconds,
                box=self.box,
                ids=self.ids,
                clock=self.clock,
            )

    def revoke(self, actor: Actor, name: str, *, jti: str | None) -> dict[str, Any]:
        """Revoke one or all tokens of an agent."""
        with self.db.transaction() as session:
            return revoke_tokens(session, actor, name, jti=jti, clock=self.clock)

    def rotate(self, actor: Actor) -> dict[str, Any]:
        """Rotate the signing key."""
        with self.db.transaction() as session:
            return rotate_keys(session, actor, box=self.box, ids=self.ids, clock=self.clock)


class PolicyCache:
    """The AuthorizationPolicy documents as (name, Cedar text), re-read when stale.

    Applying such a document invalidates the cache at once in this process; other
    processes (replicas) see it within ``ttl_s``.
    """

    def __init__(self, db: Database, *, ttl_s: float = 2.0) -> None:
        self.db, self.ttl_s = db, ttl_s
        self._lock = threading.Lock()
        self._sets: tuple[tuple[str, str], ...] = ()
        self._read_at: float | None = None

    def invalidate(self) -> None:
        """Forget the cached policies."""
        with self._lock:
            self._read_at = None

    def sets(self) -> tuple[tuple[str, str], ...]:
        """Return the extension policy sets, sorted by name."""
        now = time.monotonic()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self.ttl_s:
                return self._sets
        with self.db.read() as session:
            found = policy_sets(session)
        with self._lock:
            self._sets, self._read_at = found, now
        return found
