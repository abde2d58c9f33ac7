"""All SQL of the identity capability."""

from __future__ import annotations

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

__all__ = ["IdentityRepository"]


class IdentityRepository:
    """Reads and writes identity rows inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def token(self, token_hash: str) -> ApiToken | None:
        """Return the live token with this hash."""
        return self.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
        )

    def user(self, user_id: str) -> UserRow | None:
        """Return a user by id."""
        return self.session.get(UserRow, user_id)

    def user_by_name(self, name: str) -> UserRow | None:
        """Return a user by name."""
        return self.session.scalar(select(UserRow).where(UserRow.name == name))

    def grants(self, user_id: str) -> list[tuple[str, str | None]]:
        """Return ``(role, team name | None)`` for a user."""
        rows = self.session.execute(
            select(Membership.role, TeamRow.name)
            .outerjoin(TeamRow, TeamRow.id == Membership.team_id)
            .where(Membership.user_id == user_id)
            .order_by(Membership.role, TeamRow.name)
        )
        return [(role, team) for role, team in rows]

    def team_by_name(self, name: str) -> TeamRow | None:
        """Return a team by name."""
        return self.session.scalar(select(TeamRow).where(TeamRow.name == name))

    def team(self, team_id: str) -> TeamRow | None:
        """Return a team by id."""
        return self.session.get(TeamRow, team_id)

    def project_by_name(self, name: str) -> ProjectRow | None:
        """Return a project by name."""
        return self.session.scalar(select(ProjectRow).where(ProjectRow.name == name))

    def environment_by_name(self, name: str) -> EnvironmentRow | None:
        """Return an environment by name."""
        return self.session.scalar(select(EnvironmentRow).where(EnvironmentRow.name == name))

    def projects_of_teams(self, team_names: list[str]) -> list[ProjectRow]:
        """Return the projects owned by any of these teams, by name."""
        return list(
            self.session.scalars(
                select(ProjectRow)
                .join(TeamRow, TeamRow.id == ProjectRow.team_id)
                .where(TeamRow.name.in_(team_names))
                .order_by(ProjectRow.name)
            )
        )

    def add(self, row: object) -> None:
        """Stage a new row."""
        self.session.add(row)
        self.session.flush()

    def count_users(self) -> int:
        """Return how many users exist (0 means the store is unseeded)."""
        return len(list(self.session.scalars(select(UserRow.id).limit(1))))
