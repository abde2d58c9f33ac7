"""The policy gate: the Rego packs in force, evaluated on every plan.

The packs (the built-in default pack and the newest version of each ``Policy``
document), the ``PolicyException`` documents and the facts the input needs (the
environment's region, the project's labels) come from ``PlanView.extra["policy"]``,
which ``decisions.plan_view`` fills; the registry's model verifications come from
``PlanView.extra["models"]``. Each rule that fires is one reason, with its fix; results an
exception covers are reported as excepted, with the exception's owner and expiry. A
pack that cannot be evaluated in time denies the plan.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.policy import (
    DEFAULT_TIMEOUT_S,
    Evaluation,
    Pack,
    PolicyEngine,
    PolicyExceptionRule,
    PolicyResult,
    apply_exceptions,
    builtin_packs,
    policy_input_for_plan,
)
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["PolicyGate", "engine_for", "explain"]

_KIND = {
    "deny": VerdictKind.DENY,
    "needs_approval": VerdictKind.NEEDS_APPROVAL,
    "warn": VerdictKind.WARN,
}
_ENGINES: dict[tuple[str, ...], PolicyEngine] = {}
_LOCK = threading.Lock()


def engine_for(packs: Sequence[Pack], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> PolicyEngine:
    """Return an engine for these packs (shared while the packs do not change)."""
    key = (*(p.key for p in packs), str(timeout_s))
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            if len(_ENGINES) > 16:
                _ENGINES.clear()
            engine = _ENGINES[key] = PolicyEngine(packs, timeout_s=timeout_s)
        return engine


def _line(result: PolicyResult) -> str:
    return f"{result.level}: {result.describe()}"


def explain(
    evaluation: Evaluation,
    kept: Sequence[PolicyResult],
    excepted: Sequence[tuple[PolicyResult, PolicyExceptionRule]],
) -> dict[str, Any]:
    """Return the evaluation as JSON data: what fired, what an exception covered, the fixes."""
    return {
        "packs": list(evaluation.packs),
        "results": [r.as_dict() for r in kept],
        "excepted": [r.as_dict() | {"exception": e.as_dict()} for r, e in excepted],
        "errors": list(evaluation.errors),
        "elapsed_ms": round(evaluation.elapsed_ms, 3),
    }


def _now(context: GateContext) -> datetime:
    now = context.settings.get("now")
    if isinstance(now, datetime):
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return datetime.now(UTC)


class PolicyGate:
    """Evaluates the policy packs in force on the plan (deny / needs_approval / warn)."""

    name: ClassVar[str] = "policy"

    def run(
        self, plan: PlanView, actor: Actor, context: GateContext
    ) -> tuple[Evaluation, list[PolicyResult], list[tuple[PolicyResult, PolicyExceptionRule]]]:
        """Evaluate the packs and split the results by the exceptions in force."""
        facts: Mapping[str, Any] = plan.extra.get("policy") or {}
        packs: Sequence[Pack] = facts.get("packs") or builtin_packs()
        exceptions: Sequence[PolicyExceptionRule] = facts.get("exceptions") or ()
        timeout = float(context.settings.get("policy_timeout_s") or DEFAULT_TIMEOUT_S)
        evaluation = engine_for(packs, timeout_s=timeout).evaluate(
            policy_input_for_plan(plan, actor)
        )
        kept, excepted = apply_exceptions(
            evaluation.results, exceptions, _now(context), environment=plan.environment
        )
        return evaluation, kept, excepted

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Return the most severe level that fired, each rule with its message and fix."""
        return self.verdict(*self.run(plan, actor, context))

    def verdict(
        self,
        evaluation: Evaluation,
        kept: Sequence[PolicyResult],
        excepted: Sequence[tuple[PolicyResult, PolicyExceptionRule]],
    ) -> Verdict:
        """Return the verdict of an evaluation split by exceptions."""
        packs = ", ".join(evaluation.packs)
        reasons = [_line(r) for r in kept]
        suggestions = [f"{r.rule_id}: {r.fix}" for r in kept if r.fix]
        for result, exception in excepted:
            reasons.append(
                f"excepted: {result.describe()} (exception {exception.name}, owner "
                f"{exception.owner}, expires {exception.expires.isoformat()})"
            )
        levels = [_KIND[r.level] for r in kept]
        verdict = max(levels, key=list(VerdictKind).index, default=VerdictKind.ALLOW)
        if not kept:
            reasons.insert(0, f"no policy rule fired (packs {packs})")
        else:
            reasons.append(f"decided by packs {packs}")
        return Verdict(self.name, verdict, tuple(reasons), tuple(dict.fromkeys(suggestions)))
