"""The kinds of object the CLI can list, show and delete, and the names it accepts for them."""

from __future__ import annotations

from dataclasses import dataclass

from plinth.core.errors import InvalidInput

__all__ = ["KINDS", "KindInfo", "resolve_kind"]


@dataclass(frozen=True)
class KindInfo:
    """One API collection: its path, its document kind and how to show it."""

    plural: str
    path: str
    kind: str
    aliases: tuple[str, ...]
    columns: tuple[str, ...] = ()
    scoped: bool = False
    key: str = "name"
    gettable: bool = True


KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        "workloads",
        "/workloads",
        "Workload",
        ("workload", "wl", "wls"),
        ("name", "environment", "project", "type", "phase", "healthy", "template", "revision"),
        scoped=True,
    ),
    KindInfo(
        "applications",
        "/applications",
        "Application",
        ("application", "app", "apps"),
        ("name", "environment", "project", "template", "template_version", "phase", "healthy"),
        scoped=True,
    ),
    KindInfo(
        "resources",
        "/resources",
        "Resource",
        ("resource", "res"),
        ("name", "workload", "type", "phase", "healthy", "generation", "observed_generation"),
        scoped=True,
        gettable=False,
    ),
    KindInfo(
        "environments",
        "/environments",
        "Environment",
        ("environment", "env", "envs"),
        gettable=False,
    ),
    KindInfo("teams", "/teams", "Team", ("team",), gettable=False),
    KindInfo("projects", "/projects", "Project", ("project", "proj"), gettable=False),
    KindInfo(
        "templates",
        "/templates",
        "Template",
        ("template", "tpl"),
        ("name", "latest_version", "versions", "description"),
    ),
    KindInfo(
        "plans",
        "/plans",
        "Plan",
        ("plan",),
        ("digest", "environment", "project", "actor", "status", "outcome", "created_at"),
        key="digest",
    ),
    KindInfo(
        "approvals",
        "/approvals",
        "Approval",
        ("approval",),
        ("digest", "environment", "project", "actor", "status", "created_at", "reasons"),
        key="digest",
        gettable=False,
    ),
    KindInfo("users", "/users", "User", ("user",)),
)


def resolve_kind(name: str) -> KindInfo:
    """Return the kind for a plural, singular or short name (any case); InvalidInput if unknown."""
    wanted = name.strip().lower()
    for info in KINDS:
        if wanted in (info.plural, info.kind.lower(), *info.aliases):
            return info
    known = ", ".join(info.plural for info in KINDS)
    raise InvalidInput(f"unknown kind {name!r}: use one of {known}")
