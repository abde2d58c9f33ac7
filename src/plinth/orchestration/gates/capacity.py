"""The capacity gate: can the plan's accelerator requests run, when, and at whose expense.

Reads ``PlanView.extra["capacity"]`` (see ``orchestration.capacity``):

- a request that can never run (no pool has the type, a gang larger than the
  cluster, a bad count, no queue for the team) → deny, with the reason;
- a request that would preempt another team's work running *within* that team's
  quota → needs approval (reclaiming capacity a team *borrowed* is the normal
  rule of the cohort and only warns);
- a request that must queue → warn, with the expected start;
- otherwise → allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["CapacityGate"]

_SEVERITY = {
    VerdictKind.ALLOW: 0,
    VerdictKind.WARN: 1,
    VerdictKind.NEEDS_APPROVAL: 2,
    VerdictKind.DENY: 3,
}


def _what(fact: Mapping[str, Any]) -> str:
    count = fact.get("count")
    shown = f"{count:g}" if isinstance(count, int | float) else str(count)
    part = f" {fact['partition']} slice(s) of" if fact.get("partition") else ""
    return f"{fact['resource']} ({shown}{part} {fact.get('type')})"


def _judge(fact: Mapping[str, Any], team: str) -> tuple[VerdictKind, str, list[str]]:
    verdict = fact.get("verdict")
    if verdict == "impossible":
        return VerdictKind.DENY, f"{_what(fact)} can never run: {fact.get('reason')}", []
    victims = list(fact.get("preempts") or [])
    taken = [v for v in victims if v["team"] != team and not v.get("borrowed")]
    reclaimed = [v for v in victims if v not in taken]
    notes = [
        f"preempts {v['resource']} of team {v['team']} ({v['devices']:g} device(s), "
        f"{'borrowed' if v.get('borrowed') else 'within its quota'}; stops by {v['stop_by']})"
        for v in victims
    ]
    if verdict == "now":
        kind = (
            VerdictKind.NEEDS_APPROVAL
            if taken
            else (VerdictKind.WARN if reclaimed else VerdictKind.ALLOW)
        )
        return kind, f"{_what(fact)} can start now", notes
    when = fact.get("expected_start")
    if when is None:
        text = f"{_what(fact)} must queue: {fact.get('reason')}"
    else:
        basis = (
            " (assuming 1 h for work without a run-time estimate)"
            if (fact.get("estimate_basis") == "assumed")
            else ""
        )
        text = f"{_what(fact)} must queue; expected to start at {when}{basis}"
    kind = VerdictKind.NEEDS_APPROVAL if taken else VerdictKind.WARN
    return kind, text, notes


class CapacityGate:
    """Checks every accelerator request of a plan against the pools, quotas and queue."""

    name: ClassVar[str] = "capacity"

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Deny impossible requests; warn when queued; ask approval to preempt in-quota work."""
        capacity: Mapping[str, Any] = plan.extra.get("capacity") or {}
        facts = list(capacity.get("requests") or [])
        if not facts:
            return Verdict(self.name, VerdictKind.ALLOW, ("this plan asks for no accelerators",))
        worst, reasons, suggestions = VerdictKind.ALLOW, [], []
        for fact in facts:
            kind, text, notes = _judge(fact, plan.team)
            worst = max(worst, kind, key=_SEVERITY.__getitem__)
            reasons.append(text)
            reasons.extend(notes)
            if kind == VerdictKind.DENY and "no pool has" in str(fact.get("reason")):
                suggestions.append("ask for a type that a pool has, or declare an AcceleratorPool")
            if fact.get("verdict") == "queued" and fact.get("kind") == "training-job":
                suggestions.append(
                    f"{fact['resource']}: a smaller gang or a plinth.dev/accelerator-estimate-"
                    "seconds annotation may let it start sooner"
                )
        reasons.extend(str(n) for n in capacity.get("notes") or [])
        return Verdict(self.name, worst, tuple(reasons), tuple(dict.fromkeys(suggestions)))
