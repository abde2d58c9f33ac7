"""The authorization gate: who may change what, in which environment (role based).

Rules:
- Organisation kinds (Template, Environment, Team, Project, Budget, PriceBook)
  need the ``platform-engineer`` role.
- Workloads and applications need a change role (``developer``,
  ``ml-engineer``, ``release-manager`` or ``platform-engineer``) in the team
  that owns the project, or ``platform-engineer`` organisation-wide.
- Production (tier ``prod``) and protected environments need
  ``release-manager`` in the owning team or ``platform-engineer``: the role a
  developer does not have.
- The ``janitor`` role (held org-wide by the janitor agent) may update and
  delete existing workloads and their resources, nothing else: no creating, no
  applications, no organisation kinds. Outside production that is allowed; in
  production a plan that only edits workload documents (the janitor's mark) is
  allowed, and one that stops or deletes anything needs a human approval. The
  role adds rights: someone who also holds a change role gets the rules above.
"""

from __future__ import annotations

from typing import ClassVar

from plinth.capabilities.identity.schemas import Actor, Role
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["AuthorizationGate"]

ORG_KINDS = frozenset({"Template", "Environment", "Team", "Project", "Budget", "PriceBook"})
CHANGE_ROLES = (Role.DEVELOPER, Role.ML_ENGINEER, Role.RELEASE_MANAGER, Role.PLATFORM_ENGINEER)
PROD_ROLES = (Role.RELEASE_MANAGER, Role.PLATFORM_ENGINEER)
JANITOR_KINDS = frozenset({"Workload", "Resource"})


class AuthorizationGate:
    """Role-based authorization of every change."""

    name: ClassVar[str] = "authorization"

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Deny changes the actor's roles do not cover."""
        reasons: list[str] = []
        suggestions: list[str] = []
        held = ", ".join(f"{g.role}@{g.team or 'org'}" for g in actor.grants) or "no roles"
        if actor.has_role(Role.JANITOR) and not any(
            actor.has_role(r, team=plan.team) for r in CHANGE_ROLES
        ):
            return _janitor_verdict(self.name, plan)
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


def _janitor_verdict(gate: str, plan: PlanView) -> Verdict:
    """Return the verdict on a plan of the janitor agent (see the module docs)."""
    outside = sorted(plan.kinds - JANITOR_KINDS)
    creates = sorted(c["name"] for c in plan.changes if c["action"] == "create")
    if outside or creates:
        what = f"changing {', '.join(outside)}" if outside else f"creating {', '.join(creates)}"
        return Verdict(
            gate,
            VerdictKind.DENY,
            (f"the janitor only updates and deletes existing workloads: {what} is not allowed",),
            ("ask a platform engineer to make this change",),
        )
    production = plan.environment_tier == "prod" or plan.environment_protected
    if production and (plan.kinds != {"Workload"} or plan.deletes):
        return Verdict(
            gate,
            VerdictKind.NEEDS_APPROVAL,
            (
                f"environment {plan.environment!r} is production: the janitor stops or "
                "deletes workloads there only with a human approval",
            ),
            ("a platform engineer approves the plan; the janitor applies it on its next run",),
        )
    return Verdict(gate, VerdictKind.ALLOW, ("the janitor may update or delete this workload",))
