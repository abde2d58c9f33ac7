"""The agents capability's entry point: register agents, issue and check their tokens.

An agent is an ``AgentRow`` (its spec) plus a ``UserRow`` of kind ``agent``
(persona ``agent``) holding the role ``agent`` in its owner team. Agents
authenticate only with signed, short-lived, audience-bound tokens
(``tokens.py``); each issued token is recorded by its ``jti`` so that revoking
it, or disabling its agent, takes effect on the next request. Services never
commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session

from plinth.capabilities.agents import tokens
from plinth.capabilities.agents.models import AgentRow, AgentTokenRow
from plinth.capabilities.agents.spec import AgentSpec, parse_agent_spec
from plinth.capabilities.identity.models import Membership, TeamRow, UserRow
from plinth.capabilities.identity.schemas import Actor, Grant, Persona
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from plinth.core.ids import IdFactory
from plinth.core.secrets import SecretBox

__all__ = [
    "AGENT_ROLE",
    "IssuedToken",
    "agent_spec",
    "authenticate_agent",
    "disable_agent",
    "get_agent",
    "is_registered_agent",
    "issue_agent_token",
    "list_agents",
    "looks_like_jwt",
    "revoke",
    "rotate_signing_key",
    "upsert_agent",
]

AGENT_ROLE = "agent"
looks_like_jwt = tokens.looks_like_jwt


@dataclass(frozen=True)
class IssuedToken:
    """A freshly signed agent token: shown once, never stored (only its ``jti`` is)."""

    token: str
    jti: str
    expires_at: datetime
    audience: str
    scopes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the token as JSON data for the one response that shows it."""
        return {
            "token": self.token,
            "token_type": "Bearer",
            "jti": self.jti,
            "expires_at": self.expires_at,
            "audience": self.audience,
            "scopes": list(self.scopes),
        }


def get_agent(session: Session, name: str) -> AgentRow | None:
    """Return a registered agent by name, or None."""
    return session.scalar(select(AgentRow).where(AgentRow.name == name))


def _agent(session: Session, name: str) -> AgentRow:
    row = get_agent(session, name)
    if row is None:
        raise NotFound(f"no agent named {name!r}")
    return row


def agent_spec(row: AgentRow) -> AgentSpec:
    """Return the parsed spec of a registered agent."""
    return parse_agent_spec(row.name, row.spec)


def list_agents(session: Session) -> list[AgentRow]:
    """Return every registered agent, by name."""
    return list(session.scalars(select(AgentRow).order_by(AgentRow.name)))


def is_registered_agent(session: Session, user_id: str) -> bool:
    """True if the user is a registered agent (which may only use signed agent tokens)."""
    return session.scalar(select(AgentRow.id).where(AgentRow.user_id == user_id)) is not None


def _agent_user(
    session: Session, *, name: str, row: AgentRow | None, ids: IdFactory, clock: Clock
) -> UserRow:
    if row is not None:
        user = session.get(UserRow, row.user_id)
        if user is None:
            raise NotFound(f"the user of agent {name!r} is missing")
        return user
    user = session.scalar(select(UserRow).where(UserRow.name == name))
    if user is not None:
        raise Conflict(
            f"a user named {name!r} already exists and is not a registered agent: "
            "choose another name for the agent"
        )
    user = UserRow(
        id=ids.new("usr"),
        name=name,
        kind="agent",
        persona=Persona.AGENT.value,
        display_name=name,
        created_at=clock.now(),
    )
    session.add(user)
    return user


def _set_owner_team(session: Session, *, user_id: str, team: TeamRow, ids: IdFactory) -> None:
    """Hold the agent role in exactly the owner team."""
    held = session.scalars(
        select(Membership).where(Membership.user_id == user_id, Membership.role == AGENT_ROLE)
    ).all()
    for membership in held:
        if membership.team_id != team.id:
            session.delete(membership)
    if not any(m.team_id == team.id for m in held):
        session.add(
            Membership(id=ids.new("mbr"), user_id=user_id, team_id=team.id, role=AGENT_ROLE)
        )


def upsert_agent(
    session: Session,
    *,
    name: str,
    spec: Mapping[str, Any],
    box: SecretBox,
    ids: IdFactory,
    clock: Clock,
) -> AgentRow:
    """Register an agent or update its spec (keeping its user); the owner team must exist."""
    parsed = parse_agent_spec(name, spec)
    team = session.scalar(select(TeamRow).where(TeamRow.name == parsed.team))
    if team is None:
        raise NotFound(f"agent {name!r} names team {parsed.team!r}, which does not exist")
    row = get_agent(session, name)
    user = _agent_user(session, name=name, row=row, ids=ids, clock=clock)
    session.flush()
    now = clock.now()
    if row is None:
        row = AgentRow(
            id=ids.new("agt"),
            name=name,
            user_id=user.id,
            team=parsed.team,
            purpose=parsed.purpose,
            spec=dict(spec),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.team, row.purpose, row.spec, row.updated_at = (
            parsed.team,
            parsed.purpose,
            dict(spec),
            now,
        )
    _set_owner_team(session, user_id=user.id, team=team, ids=ids)
    tokens.current_signing_key(session, box=box, clock=clock)
    session.flush()
    return row


def disable_agent(session: Session, name: str, clock: Clock) -> AgentRow:
    """Disable an agent and revoke all its tokens, from the next request on."""
    row = _agent(session, name)
    now = clock.now()
    if row.disabled_at is None:
        row.disabled_at = now
    _revoke_where(session, row.id, None, actor="disable", now=now)
    session.flush()
    return row


def _revoke_where(
    session: Session, agent_id: str, jti: str | None, *, actor: str, now: datetime
) -> int:
    query = update(AgentTokenRow).where(
        AgentTokenRow.agent_id == agent_id,
        AgentTokenRow.revoked_at.is_(None),
        AgentTokenRow.expires_at > now - timedelta(seconds=tokens.LEEWAY_SECONDS),
    )
    if jti is not None:
        query = query.where(AgentTokenRow.jti == jti)
    result = session.execute(
        query.values(revoked_at=now, revoked_by=actor[:63]),
        execution_options={"synchronize_session": "fetch"},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def revoke(session: Session, *, agent: str, jti: str | None, actor: str, clock: Clock) -> int:
    """Revoke one token of an agent (by ``jti``) or all its live tokens; return how many."""
    row = _agent(session, agent)
    if jti is not None:
        token = session.get(AgentTokenRow, jti)
        if token is None or token.agent_id != row.id:
            raise NotFound(f"agent {agent!r} has no token {jti!r}")
    return _revoke_where(session, row.id, jti, actor=actor, now=clock.now())


def rotate_signing_key(session: Session, *, box: SecretBox, ids: IdFactory, clock: Clock) -> str:
    """Make a new signing key; older ones stop signing but verify until the longest TTL passes."""
    tokens.retire_signing_keys(session, clock=clock)
    return tokens.new_signing_key(session, box=box, clock=clock).kid


def _scopes(parsed: AgentSpec, scopes: Sequence[str]) -> tuple[str, ...]:
    if not scopes:
        return parsed.actions
    wider = sorted(set(scopes) - set(parsed.actions))
    if wider:
        allowed = ", ".join(parsed.actions) or "none"
        raise InvalidInput(
            f"agent {parsed.name!r} may not have scopes {wider}: its spec.capability.actions "
            f"allow {allowed}"
        )
    return tuple(dict.fromkeys(scopes))


def issue_agent_token(
    session: Session,
    *,
    agent: str,
    audience: str,
    ttl_seconds: int | None,
    scopes: Sequence[str],
    box: SecretBox,
    ids: IdFactory,
    clock: Clock,
) -> IssuedToken:
    """Sign a token for an enabled agent, bound to one of its audiences and within its TTL."""
    row = _agent(session, agent)
    if row.disabled_at is not None:
        raise InvalidInput(f"agent {agent!r} is disabled: no tokens are issued to it")
    parsed = agent_spec(row)
    if audience not in parsed.audiences:
        raise InvalidInput(
            f"agent {agent!r} may not have tokens for audience {audience!r} "
            f"(its spec.identity.audiences: {', '.join(parsed.audiences)})"
        )
    ttl = parsed.token_ttl_seconds if ttl_seconds is None else ttl_seconds
    if not 1 <= ttl <= parsed.token_ttl_seconds:
        raise InvalidInput(
            f"token lifetime {ttl} s is outside 1..{parsed.token_ttl_seconds} s "
            f"(spec.identity.token_ttl_seconds of agent {agent!r})"
        )
    granted = _scopes(parsed, scopes)
    now = clock.now().replace(microsecond=0)
    jti = ids.new("jti")
    key = tokens.current_signing_key(session, box=box, clock=clock)
    text = tokens.sign(
        key,
        box=box,
        agent=agent,
        audience=audience,
        jti=jti,
        scopes=granted,
        issued_at=now,
        ttl_seconds=ttl,
    )
    expires = now + timedelta(seconds=ttl)
    session.add(
        AgentTokenRow(
            jti=jti,
            agent_id=row.id,
            audience=audience,
            scopes=list(granted),
            issued_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return IssuedToken(token=text, jti=jti, expires_at=expires, audience=audience, scopes=granted)


def _token_holder() -> Select[Any]:
    """One indexed lookup of a token, its agent, the agent's user and grants (built once)."""
    token, agent, user = AgentTokenRow.__table__.c, AgentRow.__table__.c, UserRow.__table__.c
    membership, team = Membership.__table__.c, TeamRow.__table__.c
    return (
        select(
            token.revoked_at,
            agent.name,
            agent.disabled_at,
            user.id,
            user.display_name,
            membership.role,
            team.name,
        )
        .select_from(
            AgentTokenRow.__table__.outerjoin(AgentRow.__table__, agent.id == token.agent_id)
            .outerjoin(UserRow.__table__, user.id == agent.user_id)
            .outerjoin(Membership.__table__, membership.user_id == user.id)
            .outerjoin(TeamRow.__table__, team.id == membership.team_id)
        )
        .where(token.jti == bindparam("jti"))
        .order_by(membership.role, team.name)
    )


_TOKEN_HOLDER = _token_holder()


def authenticate_agent(
    session: Session, token: str, *, audience: str, box: SecretBox, clock: Clock
) -> Actor:
    """Return the agent actor of a signed token for ``audience``, or raise Unauthenticated."""
    claims = tokens.verify(session, token, audience=audience, clock=clock)
    rows = session.execute(_TOKEN_HOLDER, {"jti": claims.jti}).all()
    if not rows:
        raise Unauthenticated(f"token {claims.jti!r} is not known here (never issued or removed)")
    revoked_at, name, disabled_at, user_id, display_name = rows[0][:5]
    if revoked_at is not None and disabled_at is None:
        raise Unauthenticated(f"token {claims.jti!r} was revoked at {revoked_at.isoformat()}")
    if name is None or user_id is None or name != claims.agent:
        raise Unauthenticated(f"agent {claims.agent!r} is not registered (unknown agent)")
    if disabled_at is not None:
        raise Unauthenticated(
            f"agent {name!r} is disabled (since {disabled_at.isoformat()}); its tokens are revoked"
        )
    grants = tuple(Grant(role=r[5], team=r[6]) for r in rows if r[5] is not None)
    return Actor(
        id=user_id,
        name=name,
        kind="agent",
        persona=Persona.AGENT.value,
        display_name=display_name or "",
        grants=grants,
        audience=claims.audience,
        scopes=claims.scopes,
        jti=claims.jti,
    )
