"""Plain data of the identity capability, shared with the gates and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Actor", "Grant", "Persona", "Role"]


class Role(StrEnum):
    """Roles a user can hold; what each may do is decided by the authorization gate."""

    DEVELOPER = "developer"
    ML_ENGINEER = "ml-engineer"
    PLATFORM_ENGINEER = "platform-engineer"
    RELEASE_MANAGER = "release-manager"
    SECURITY_AUDITOR = "security-auditor"
    VIEWER = "viewer"
    JANITOR = "janitor"  # the janitor agent: updates and deletes workloads, never creates


class Persona(StrEnum):
    """The six personas the platform serves."""

    APP_DEVELOPER = "app-developer"
    PLATFORM_ENGINEER = "platform-engineer"
    LEADER = "leader"
    SECURITY = "security"
    ML_ENGINEER = "ml-engineer"
    AGENT = "agent"


@dataclass(frozen=True)
class Grant:
    """One role, in one team or (team None) organisation-wide."""

    role: str
    team: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who is asking: resolved from a token on every request."""

    id: str
    name: str
    kind: str
    persona: str
    display_name: str = ""
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    audience: str = ""  # agents: the audience their token was issued for
    scopes: tuple[str, ...] = ()  # agents: the scopes their token carries
    jti: str = ""  # agents: the id of the token they authenticated with

    @property
    def teams(self) -> list[str]:
        """Return the teams the actor belongs to."""
        return sorted({g.team for g in self.grants if g.team})

    def has_role(self, role: str, *, team: str | None = None) -> bool:
        """True if the actor holds ``role`` org-wide or in ``team``."""
        return any(g.role == role and (g.team is None or g.team == team) for g in self.grants)

    def as_dict(self) -> dict[str, Any]:
        """Return the actor as JSON data (no secrets)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "persona": self.persona,
            "display_name": self.display_name,
            "roles": [{"role": g.role, "team": g.team} for g in self.grants],
            "teams": self.teams,
            "audience": self.audience,
            "scopes": list(self.scopes),
        }


SYSTEM_ACTOR = Actor(id="system", name="system", kind="system", persona="platform")
__all__ += ["SYSTEM_ACTOR"]
