"""Small reads shared by the persona views: the organisation's teams, projects, environments."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.platform import Platform

__all__ = ["Org", "money", "org_of", "sorted_by_time"]


@dataclass(frozen=True)
class Org:
    """Teams, projects (with their team) and environments."""

    teams: list[str]
    project_team: dict[str, str]
    environments: list[dict[str, Any]]

    def projects_of(self, actor: Actor) -> list[str]:
        """Return the projects of the actor's teams (every project for org-wide roles only)."""
        teams = set(actor.teams)
        return sorted(p for p, t in self.project_team.items() if t in teams)


def org_of(platform: Platform) -> Org:
    """Return the organisation (one page of each: the portal shows at most 500)."""
    teams = platform.organisation("teams", limit=500, page_token=None).items
    by_id = {t["id"]: t["name"] for t in teams}
    projects = platform.organisation("projects", limit=500, page_token=None).items
    environments = platform.organisation("environments", limit=500, page_token=None).items
    return Org(
        teams=sorted(by_id.values()),
        project_team={p["name"]: by_id.get(p["team_id"], "") for p in projects},
        environments=sorted(environments, key=lambda e: (bool(e.get("protected")), e["name"])),
    )


def money(value: Any) -> float:
    """Return a decimal string (or number) as a float for charts; 0 when not a number."""
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0.0


def sorted_by_time(items: list[dict[str, Any]], key: str = "created_at") -> list[dict[str, Any]]:
    """Return items newest first by a timestamp field (strings or datetimes)."""
    return sorted(items, key=lambda i: str(i.get(key) or ""), reverse=True)
