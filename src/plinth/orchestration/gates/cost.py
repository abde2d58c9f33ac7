"""The cost gate: a plan that would overrun a budget warns, needs approval, or is denied.

For every budget whose scope (team, project or environment) the plan touches:

    projected = spent + committed + held + the plan's hourly delta x hours left in the period

and ``projected / amount`` is compared with the budget's thresholds: at or
above ``warn`` → warn; above ``needs_approval`` → needs approval; above
``deny`` → deny. A plan that does not raise spend is always allowed. When the
verdict is not ``allow``, the suggestions are the plan's cheaper alternatives,
largest saving first, each marked when it alone brings the plan back under
the approval threshold.

The gate reads only plain data (``PlanView.extra``: ``cost`` from the plan and
``budgets`` with their forecasts, computed at plan time and again at apply
time inside the lock that serialises decisions).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["CostGate", "projected_spend"]

MAX_SUGGESTIONS = 5
_LEVELS = (
    ("deny", VerdictKind.DENY),
    ("needs_approval", VerdictKind.NEEDS_APPROVAL),
    ("warn", VerdictKind.WARN),
)
_SEVERITY = {
    VerdictKind.ALLOW: 0,
    VerdictKind.WARN: 1,
    VerdictKind.NEEDS_APPROVAL: 2,
    VerdictKind.DENY: 3,
}


def projected_spend(budget: Mapping[str, Any], hourly_delta: Decimal) -> Decimal:
    """Return a budget's projected spend for its period if the plan is applied."""
    known = sum(Decimal(budget[k]) for k in ("spent", "committed", "held"))
    return known + hourly_delta * Decimal(budget["hours_left"])


def _level(ratio: Decimal, thresholds: Mapping[str, Any]) -> VerdictKind:
    for key, kind in _LEVELS:
        limit = Decimal(str(thresholds[key]))
        if ratio > limit or (kind == VerdictKind.WARN and ratio >= limit):
            return kind
    return VerdictKind.ALLOW


def _pct(value: Decimal, places: int = 0) -> str:
    return f"{(value * 100).quantize(Decimal(1).scaleb(-places)).normalize():f}%"


def _reason(budget: Mapping[str, Any], projected: Decimal, plan_part: Decimal) -> str:
    scope_kind, scope_name = next(iter(budget["scope"].items()))
    cur, amount = budget["currency"], Decimal(budget["amount"])
    t = budget["thresholds"]
    return (
        f"budget {budget['name']} ({scope_kind} {scope_name}, {cur} {amount:.2f} "
        f"{budget['period']}): projected {cur} {projected:.2f} = spent "
        f"{Decimal(budget['spent']):.2f} + committed {Decimal(budget['committed']):.2f} + held "
        f"{Decimal(budget['held']):.2f} + this plan {plan_part:.2f} until "
        f"{budget['period_end'][:10]}, {_pct(projected / amount, 1)} of the budget (warn at "
        f"{_pct(Decimal(t['warn']))}, approval above {_pct(Decimal(t['needs_approval']))}, "
        f"deny above {_pct(Decimal(t['deny']))})"
    )


def _suggestions(cost: Mapping[str, Any], needed: Decimal | None, hours: Decimal) -> list[str]:
    out = []
    for alt in list(cost.get("alternatives") or [])[:MAX_SUGGESTIONS]:
        savings = Decimal(alt["monthly_savings"])
        enough = ""
        if needed is not None and savings * hours / Decimal(730) >= needed:
            enough = " (enough to stay within the budget)"
        out.append(
            f"{alt['kind']} {alt['resource']}: {alt['summary']}; saves {cost['currency']} "
            f"{savings:.2f}/month{enough}"
        )
    return out


class CostGate:
    """Checks a plan's cost against every budget it touches."""

    name: ClassVar[str] = "cost"

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Allow, warn, ask for approval or deny by the budgets' thresholds."""
        cost: Mapping[str, Any] = plan.extra.get("cost") or {}
        budgets: list[Mapping[str, Any]] = list(plan.extra.get("budgets") or [])
        if not cost:
            return Verdict(self.name, VerdictKind.ALLOW, ("nothing in this plan is priced",))
        delta = Decimal(cost["monthly_delta"])
        hourly = Decimal(cost["hourly_delta"])
        head = f"this plan changes monthly cost by {cost['currency']} {delta:+.2f}"
        if not budgets:
            return Verdict(self.name, VerdictKind.ALLOW, (f"{head}; no budget covers it",))
        if hourly <= 0:
            return Verdict(self.name, VerdictKind.ALLOW, (f"{head}: it does not raise spend",))
        worst, reasons = VerdictKind.ALLOW, [head]
        needed: Decimal | None = None
        hours = Decimal(0)
        for budget in budgets:
            if budget["currency"] != cost["currency"]:
                reasons.append(
                    f"budget {budget['name']} is in {budget['currency']} but prices are in "
                    f"{cost['currency']}: not compared"
                )
                worst = max(worst, VerdictKind.WARN, key=_SEVERITY.__getitem__)
                continue
            projected = projected_spend(budget, hourly)
            plan_part = hourly * Decimal(budget["hours_left"])
            level = _level(projected / Decimal(budget["amount"]), budget["thresholds"])
            reasons.append(_reason(budget, projected, plan_part))
            worst = max(worst, level, key=_SEVERITY.__getitem__)
            limit = Decimal(budget["amount"]) * Decimal(budget["thresholds"]["needs_approval"])
            if projected > limit:
                over = projected - limit
                needed = over if needed is None else max(needed, over)
                hours = max(hours, Decimal(budget["hours_left"]))
        if worst == VerdictKind.ALLOW:
            return Verdict(self.name, worst, tuple(reasons))
        suggestions = _suggestions(cost, needed, hours)
        if worst == VerdictKind.NEEDS_APPROVAL:
            suggestions.append(
                "or ask a platform engineer to approve the overrun: plinth approvals approve DIGEST"
            )
        elif worst == VerdictKind.DENY:
            suggestions.append("or ask a platform engineer to raise the budget")
        return Verdict(self.name, worst, tuple(reasons), tuple(suggestions))
