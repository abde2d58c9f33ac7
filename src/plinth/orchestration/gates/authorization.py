"""The authorization gate: who may change what, in which environment, decided by Cedar.

A plan is split in two parts, each one Cedar ``change`` request (see
``plinth.capabilities.authz``): its organisation documents (Template, Environment, Team,
Project, Budget, PriceBook, Agent, McpServer, AuthorizationPolicy) and its project's
workloads (everything else). No-op changes need nothing. The verdict is the most severe
outcome of the parts, with the reasons (and the determining policy ids) of those parts.

The default policies (``capabilities/authz/cedar/default.cedar``) keep the rules:

- Organisation kinds need the ``platform-engineer`` role (organisation-wide).
- Workloads and applications need a change role (``developer``, ``ml-engineer``,
  ``release-manager`` or ``platform-engineer``) in the team that owns the project, or
  organisation-wide.
- Production (tier ``prod``) and protected environments need ``release-manager`` or
  ``platform-engineer`` in the owning team (or organisation-wide).
- The ``janitor`` role may update and delete existing workloads and their resources,
  nothing else. Outside production that is allowed; in production a plan that only edits
  workload documents (the janitor's mark) is allowed, and one that stops or deletes
  anything needs a human approval. The role adds rights, never takes any.
- Agents change workloads of their owner team's projects only, never organisation
  kinds, and never Agent, AuthorizationPolicy or McpServer documents (a forbid).

Extensions (``AuthorizationPolicy`` documents) arrive as
``GateContext.settings["authorization_policies"]``: a sequence of (name, Cedar text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from plinth.capabilities.authz import ORG_KINDS, Authorizer, authorizer_for, change_request
from plinth.capabilities.authz.schemas import ALLOW, DENY, NEEDS_APPROVAL
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import SystemClock
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["POLICIES_SETTING", "AuthorizationGate"]

POLICIES_SETTING = "authorization_policies"
_KIND = {
    ALLOW: VerdictKind.ALLOW,
    NEEDS_APPROVAL: VerdictKind.NEEDS_APPROVAL,
    DENY: VerdictKind.DENY,
}
_SEVERITY = (DENY, NEEDS_APPROVAL, ALLOW)


class AuthorizationGate:
    """Cedar authorization of every change (see the module docs for the default rules)."""

    name: ClassVar[str] = "authorization"

    def __init__(self, authorizer: Authorizer | None = None) -> None:
        self.authorizer = authorizer

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Return allow, needs_approval or deny for the plan's parts, with reasons."""
        authorizer = self.authorizer or authorizer_for(_extensions(context.settings))
        now = context.settings.get("now")
        now = now if isinstance(now, datetime) else SystemClock().now()
        decisions = [
            authorizer.decide(
                change_request(
                    actor,
                    environment=plan.environment,
                    tier=plan.environment_tier,
                    protected=plan.environment_protected,
                    project=plan.project if part == "project" else "",
                    team=plan.team if part == "project" else "",
                    changes=changes,
                    part=part,
                    cost_delta=(plan.extra.get("cost") or {}).get("monthly_delta", 0),
                    now=now,
                ),
                now=now,
            )
            for part, changes in _parts(plan.changes)
        ]
        if not decisions:
            return Verdict(self.name, VerdictKind.ALLOW, (f"{actor.name}: nothing to change",))
        outcome = next(o for o in _SEVERITY if any(d.outcome == o for d in decisions))
        chosen = [d for d in decisions if d.outcome == outcome]
        reasons = _unique(
            f"{reason} ({policy})"
            for d in chosen
            for reason, policy in zip(d.reasons, d.policies, strict=True)
        )
        suggestions = _unique(s for d in chosen for s in d.suggestions)
        if outcome != ALLOW and not suggestions:
            suggestions = ("run `plinth authz check` to see which policies decided",)
        return Verdict(self.name, _KIND[outcome], reasons, suggestions)


def _parts(
    changes: Sequence[Mapping[str, Any]],
) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Split a plan's live changes into its organisation part and its project part."""
    live = [c for c in changes if c.get("action") != "no-op"]
    org = [c for c in live if c["kind"] in ORG_KINDS]
    project = [c for c in live if c["kind"] not in ORG_KINDS]
    return [(part, found) for part, found in (("organisation", org), ("project", project)) if found]


def _extensions(settings: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Return the extra policy sets given to the gate, as (name, Cedar text) pairs."""
    given = settings.get(POLICIES_SETTING) or ()
    return tuple((str(name), str(text)) for name, text in given)


def _unique(items: Any) -> tuple[str, ...]:
    """Return the items without repeats, in order."""
    return tuple(dict.fromkeys(items))
