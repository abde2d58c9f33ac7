"""The authorization gate: who may change what, in which environment (role based).

Rules:
- Organisation kinds (Template, Environment, Team, Project) need the
  ``platform-engineer`` role.
- Workloads and applications need a change role (``developer``,
  ``ml-engineer``, ``release-manager`` or ``platform-engineer``) in the team
  that owns the project, or ``platform-engineer`` organisation-wide.
- Production (tier ``prod``) and protected environments need
  ``release-manager`` in the owning team or ``platform-engineer``: the role a
  developer does not have.
"""

from __future__ import annotations

from typing import ClassVar

from plinth.capabilities.identity.schemas import Actor, Role
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["AuthorizationGate"]

ORG_KINDS = frozenset({"Template", "Environment", "Team", "Project"})
CHANGE_ROLES = (Role.DEVELOPER, Role.ML_ENGINEER, Role.RELEASE_MANAGER, Role.PLATFORM_ENGINEER)
PROD_ROLES = (Role.RELEASE_MANAGER, Role.PLATFORM_ENGINEER)


class AuthorizationGate:
    """Role-based authorization of every change."""

    name: ClassVar[str] = "authorization"

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Deny changes the actor's roles do not cover."""
        reasons: list[str] = []
        suggestions: list[str] = []
        held = ", ".join(f"{g.role}@{g.team or 'org'}" for g in actor.grants) or "no roles"
        org_kinds = sorted(plan.kinds & ORG_KINDS)
        if org_kinds and not actor.has_role(Role.PLATFORM_ENGINEER):
            reasons.append(
                f"changing {', '.join(org_kinds)} needs the platform-engineer role "
                f"(you have {held})"
            )
            suggestions.append("ask a platform engineer to apply this plan")
        if plan.kinds - ORG_KINDS:
            if not any(actor.has_role(r, team=plan.team) for r in CHANGE_ROLES):
                reasons.append(
                    f"changing workloads of project {plan.project!r} needs a role in team "
                    f"{plan.team!r} (you have {held})"
                )
                suggestions.append(f"ask team {plan.team!r} to add you, or to apply this plan")
            elif (plan.environment_tier == "prod" or plan.environment_protected) and not any(
                actor.has_role(r, team=plan.team) for r in PROD_ROLES
            ):
                reasons.append(
                    f"environment {plan.environment!r} is production: changes need the "
                    f"release-manager or platform-engineer role (you have {held})"
                )
                suggestions.append(
                    "apply it in a non-production environment first, then ask a release "
                    "manager of "
                    f"team {plan.team!r} to apply the same plan"
                )
        if reasons:
            return Verdict(self.name, VerdictKind.DENY, tuple(reasons), tuple(suggestions))
        return Verdict(self.name, VerdictKind.ALLOW, (f"{actor.name} may make these changes",))
