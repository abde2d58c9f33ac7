"""The template-bounds gate: overrides outside a golden path's bounds need approval."""

from __future__ import annotations

from typing import ClassVar

from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["TemplateBoundsGate"]


class TemplateBoundsGate:
    """Turns every bound violation of a template override into ``needs_approval``."""

    name: ClassVar[str] = "template-bounds"

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Allow overrides inside bounds; ask for approval otherwise."""
        if not plan.violations:
            return Verdict(
                self.name, VerdictKind.ALLOW, ("every override is inside its template's bounds",)
            )
        reasons = tuple(
            f"{v.get('application', '?')}/{v.get('workload', '?')}: {v.get('message', '')}"
            for v in plan.violations
        )
        suggestions = (
            "stay inside the template's bounds (plinth templates show NAME lists them)",
            "or ask a platform engineer to approve this exception: plinth approvals approve DIGEST",
        )
        return Verdict(self.name, VerdictKind.NEEDS_APPROVAL, reasons, suggestions)
