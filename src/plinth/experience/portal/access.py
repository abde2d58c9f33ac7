"""Which persona views a user may open: by the roles they hold (leaders' view: anyone).

Reads also pass the platform's Cedar ``read`` check, as agents' reads do on the API; the
portal is for people, so agents are refused at login.
"""

from __future__ import annotations

from dataclasses import dataclass

from plinth.capabilities.authz import read_request
from plinth.capabilities.identity.schemas import Actor, Persona, Role
from plinth.core.errors import Forbidden
from plinth.orchestration.platform import Platform

__all__ = ["VIEWS", "View", "allowed_views", "home_view", "require_view"]


@dataclass(frozen=True)
class View:
    """One persona's home: its path key, title, the roles that open it, what it reads."""

    key: str
    title: str
    roles: frozenset[str] | None  # None: every signed-in person
    reads: str


_PE = Role.PLATFORM_ENGINEER.value
VIEWS: dict[str, View] = {
    "developer": View(
        "developer",
        "App developer",
        frozenset({Role.DEVELOPER.value, Role.RELEASE_MANAGER.value, _PE}),
        "Workload",
    ),
    "platform": View("platform", "Platform engineer", frozenset({_PE}), "Template"),
    "leader": View("leader", "Leader", None, "Budget"),
    "security": View(
        "security", "Security", frozenset({Role.SECURITY_AUDITOR.value, _PE}), "AuditRecord"
    ),
    "ml": View("ml", "ML engineer", frozenset({Role.ML_ENGINEER.value, _PE}), "Model"),
}
_BY_PERSONA = {
    Persona.APP_DEVELOPER.value: "developer",
    Persona.PLATFORM_ENGINEER.value: "platform",
    Persona.LEADER.value: "leader",
    Persona.SECURITY.value: "security",
    Persona.ML_ENGINEER.value: "ml",
}


def _holds(actor: Actor, view: View) -> bool:
    return view.roles is None or any(g.role in view.roles for g in actor.grants)


def allowed_views(actor: Actor) -> list[View]:
    """Return the views ``actor`` may open, in menu order."""
    return [v for v in VIEWS.values() if _holds(actor, v)]


def home_view(actor: Actor) -> str:
    """Return the key of the actor's home: their persona's view, else the first they may open."""
    preferred = _BY_PERSONA.get(actor.persona)
    if preferred and _holds(actor, VIEWS[preferred]):
        return preferred
    return allowed_views(actor)[0].key


def require_view(platform: Platform, actor: Actor, key: str) -> View:
    """Return a view the actor may open, or raise Forbidden (roles, then the Cedar read check)."""
    view = VIEWS[key]
    if not _holds(actor, view):
        roles = ", ".join(sorted(view.roles or ()))
        raise Forbidden(f"the {view.title} view needs one of these roles: {roles}")
    decision = platform.authorizer().decide(read_request(actor, kind=view.reads, granted=False))
    if not decision.allowed:
        raise Forbidden(f"{actor.name} may not read {view.reads}")
    return view
