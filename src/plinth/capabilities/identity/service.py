"""The identity capability's only entry point: who is asking, and the organisation."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.identity.models import (
    ApiToken,
    EnvironmentRow,
    Membership,
    ProjectRow,
    TeamRow,
    UserRow,
)
from plinth.capabilities.identity.repository import IdentityRepository
from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.core.clock import Clock
from plinth.core.errors import InvalidInput, NotFound, Unauthenticated
from plinth.core.ids import IdFactory, new_token
from plinth.infrastructure.store.pagination import Page, paginate

__all__ = [
    "authenticate",
    "create_user",
    "find_team",
    "get_environment",
    "get_project",
    "hash_token",
    "is_seeded",
    "issue_token",
    "list_environments",
    "list_projects",
    "list_teams",
    "list_users",
    "project_team",
    "upsert_environment",
    "upsert_project",
    "upsert_team",
]


def hash_token(token: str) -> str:
    """Return the SHA-256 hex of a token: the only form a token is stored in."""
    return hashlib.sha256(token.encode()).hexdigest()


def _actor(repo: IdentityRepository, user: UserRow) -> Actor:
    grants = tuple(Grant(role=r, team=t) for r, t in repo.grants(user.id))
    return Actor(
        id=user.id,
        name=user.name,
        kind=user.kind,
        persona=user.persona,
        display_name=user.display_name,
        grants=grants,
    )


def authenticate(session: Session, token: str | None) -> Actor:
    """Return the actor a bearer token belongs to, or raise Unauthenticated."""
    if not token:
        raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <token>'")
    repo = IdentityRepository(session)
    row = repo.token(hash_token(token))
    user = repo.user(row.user_id) if row else None
    if user is None:
        raise Unauthenticated("the bearer token is not valid (unknown or revoked)")
    return _actor(repo, user)


def actor_by_name(session: Session, name: str) -> Actor:
    """Return the actor of a user by name, or raise NotFound."""
    repo = IdentityRepository(session)
    user = repo.user_by_name(name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return _actor(repo, user)


def create_user(
    session: Session,
    *,
    name: str,
    persona: str,
    grants: list[Grant],
    ids: IdFactory,
    clock: Clock,
    display_name: str = "",
    kind: str = "human",
) -> Actor:
    """Create a user with its role grants."""
    repo = IdentityRepository(session)
    if repo.user_by_name(name) is not None:
        raise InvalidInput(f"a user named {name!r} already exists")
    user = UserRow(
        id=ids.new("usr"),
        name=name,
        kind=kind,
        persona=persona,
        display_name=display_name,
        created_at=clock.now(),
    )
    repo.add(user)
    for grant in grants:
        team_id = None
        if grant.team is not None:
            team = repo.team_by_name(grant.team)
            if team is None:
                raise NotFound(f"no team named {grant.team!r}")
            team_id = team.id
        repo.add(Membership(id=ids.new("mbr"), user_id=user.id, team_id=team_id, role=grant.role))
    return _actor(repo, user)


def issue_token(session: Session, *, user_id: str, ids: IdFactory, clock: Clock) -> str:
    """Issue a new API token for a user; the plaintext is returned once and never stored."""
    token = new_token()
    IdentityRepository(session).add(
        ApiToken(
            id=ids.new("tok"), user_id=user_id, token_hash=hash_token(token), created_at=clock.now()
        )
    )
    return token


def upsert_team(
    session: Session, *, name: str, description: str, ids: IdFactory, clock: Clock
) -> TeamRow:
    """Create or update a team."""
    repo = IdentityRepository(session)
    team = repo.team_by_name(name)
    if team is None:
        team = TeamRow(
            id=ids.new("team"), name=name, description=description, created_at=clock.now()
        )
        repo.add(team)
    else:
        team.description = description
    return team


def upsert_project(
    session: Session, *, name: str, team: str, description: str, ids: IdFactory, clock: Clock
) -> ProjectRow:
    """Create or update a project owned by ``team``."""
    repo = IdentityRepository(session)
    team_row = repo.team_by_name(team)
    if team_row is None:
        raise NotFound(f"project {name!r} names team {team!r}, which does not exist")
    project = repo.project_by_name(name)
    if project is None:
        project = ProjectRow(
            id=ids.new("prj"),
            name=name,
            team_id=team_row.id,
            description=description,
            created_at=clock.now(),
        )
        repo.add(project)
    else:
        project.team_id = team_row.id
        project.description = description
    return project


def upsert_environment(
    session: Session,
    *,
    name: str,
    tier: str,
    protected: bool,
    region: str,
    description: str,
    ids: IdFactory,
    clock: Clock,
) -> EnvironmentRow:
    """Create or update an environment."""
    repo = IdentityRepository(session)
    env = repo.environment_by_name(name)
    if env is None:
        env = EnvironmentRow(
            id=ids.new("env"),
            name=name,
            tier=tier,
            protected=protected,
            region=region,
            description=description,
            created_at=clock.now(),
        )
        repo.add(env)
    else:
        env.tier, env.protected, env.region, env.description = tier, protected, region, description
    return env


def get_environment(session: Session, name: str) -> EnvironmentRow:
    """Return an environment, or raise NotFound listing the known ones."""
    env = IdentityRepository(session).environment_by_name(name)
    if env is None:
        known = ", ".join(
            session.scalars(select(EnvironmentRow.name).order_by(EnvironmentRow.name))
        )
        raise NotFound(f"no environment named {name!r} (known: {known or 'none'})")
    return env


def find_team(session: Session, name: str) -> TeamRow | None:
    """Return a team by name, or None."""
    return IdentityRepository(session).team_by_name(name)


def get_project(session: Session, name: str) -> ProjectRow:
    """Return a project, or raise NotFound."""
    project = IdentityRepository(session).project_by_name(name)
    if project is None:
        raise NotFound(f"no project named {name!r}")
    return project


def project_team(session: Session, project: ProjectRow) -> str:
    """Return the name of the team that owns a project."""
    team = IdentityRepository(session).team(project.team_id)
    return team.name if team else ""


def default_project(session: Session, actor: Actor) -> ProjectRow:
    """Return the first project of the actor's teams, or raise InvalidInput."""
    projects = IdentityRepository(session).projects_of_teams(actor.teams)
    if not projects:
        raise InvalidInput(
            "no project given and you belong to no team with a project: pass --project"
        )
    return projects[0]


def is_seeded(session: Session) -> bool:
    """True once any user exists."""
    return IdentityRepository(session).count_users() > 0


def list_teams(session: Session, *, limit: int, page_token: str | None) -> Page[TeamRow]:
    """Return a page of teams by name."""
    return paginate(session, select(TeamRow), TeamRow.name, limit=limit, page_token=page_token)


def list_projects(session: Session, *, limit: int, page_token: str | None) -> Page[ProjectRow]:
    """Return a page of projects by name."""
    return paginate(
        session, select(ProjectRow), ProjectRow.name, limit=limit, page_token=page_token
    )


def list_environments(
    session: Session, *, limit: int, page_token: str | None
) -> Page[EnvironmentRow]:
    """Return a page of environments by name."""
    return paginate(
        session, select(EnvironmentRow), EnvironmentRow.name, limit=limit, page_token=page_token
    )


def list_users(session: Session, *, limit: int, page_token: str | None) -> Page[UserRow]:
    """Return a page of users by name."""
    return paginate(session, select(UserRow), UserRow.name, limit=limit, page_token=page_token)


def team_as_dict(row: TeamRow) -> dict[str, Any]:
    """Return a team as API data."""
    return {"name": row.name, "description": row.description, "created_at": row.created_at}


__all__ += ["actor_by_name", "default_project", "team_as_dict"]
