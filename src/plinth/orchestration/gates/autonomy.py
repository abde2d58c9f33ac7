"""The autonomy gate: an agent changes things on its own only inside its envelope.

Each registered agent declares an autonomy envelope (``spec.autonomy`` of its
``Agent`` document): the actions and environments it may change, whether it may
delete or touch production, and how much it may add to the monthly cost per
change and per day, and how many accelerators one change may ask for. A plan of
the agent inside every limit is allowed; a plan outside any of them needs a
human approval, with one reason per limit crossed that names the limit and the
value. The approval request is routed to the humans of the agent's owner team.

Humans and the built-in janitor (a system agent with no envelope) are not
limited here: the authorization gate decides for them. An agent whose view
carries no ``agent`` entry at all (nobody looked it up) needs an approval:
the gate fails closed.

The gate reads only plain data: ``PlanView.extra["agent"]``, filled by
``decisions.plan_view`` for every actor of kind ``agent`` (None when it is not a
registered agent)::

    {"name", "team", "currency", "spent_today" (money string: the monthly deltas it
     applied since 00:00 UTC), "accelerators" (int, requested by the plan),
     "autonomy": {"actions", "environments", "max_cost_delta_per_change",
                  "max_cost_delta_per_day" (money strings or None = no limit),
                  "max_accelerators" (int or None), "may_delete", "may_touch_prod",
                  "approval_ttl_seconds"}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["AutonomyGate", "envelope_reasons", "plan_actions", "requested_accelerators"]

# The envelope speaks of create, update and delete; a replace updates in place of the old.
_ACTION_OF = {"create": "create", "update": "update", "replace": "update", "delete": "delete"}


def plan_actions(plan: PlanView) -> set[str]:
    """Return the envelope actions a plan takes (create, update, delete)."""
    return {_ACTION_OF[c["action"]] for c in plan.changes if c["action"] in _ACTION_OF}


def requested_accelerators(changes: Iterable[Mapping[str, Any]]) -> int:
    """Return the accelerators the resources a plan creates or changes ask for, in all.

    A resource spec asks for ``accelerators: {count, type}`` per replica.
    """
    total = 0
    for change in changes:
        after = change.get("after")
        if change.get("kind") != "Resource" or change.get("action") == "delete":
            continue
        if not isinstance(after, Mapping) or not isinstance(after.get("accelerators"), Mapping):
            continue
        count, replicas = str(after["accelerators"].get("count") or 0), after.get("replicas", 1)
        if count.isdigit():
            total += int(count) * (replicas if isinstance(replicas, int) and replicas > 0 else 1)
    return total


def _amount(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _money(value: Decimal, currency: str) -> str:
    return f"{value.quantize(Decimal('0.01'))} {currency}/month"


def _scope_reasons(plan: PlanView, name: str, envelope: Mapping[str, Any]) -> list[str]:
    """Reasons about what the plan does and where: actions, environment, prod, deletes."""
    reasons = []
    allowed = set(envelope.get("actions") or ())
    outside = sorted(plan_actions(plan) - allowed)
    if outside:
        may = (
            f"may only {' and '.join(sorted(allowed))}"
            if allowed
            else "may not create, update or delete anything"
        )
        reasons.append(f"the change would {' and '.join(outside)}; {name} {may} without approval")
    environments = list(envelope.get("environments") or ())
    if plan.environment not in environments:
        where = ", ".join(environments) or "no environment"
        reasons.append(
            f"the change is in environment {plan.environment!r}; {name} may change only "
            f"{where} without approval"
        )
    production = plan.environment_tier == "prod" or plan.environment_protected
    if production and not envelope.get("may_touch_prod"):
        reasons.append(
            f"environment {plan.environment!r} is production; {name} may not touch "
            "production without approval (may_touch_prod is false)"
        )
    if plan.deletes and not envelope.get("may_delete"):
        gone = sorted(c["name"] for c in plan.changes if c["action"] in ("delete", "replace"))
        reasons.append(
            f"the change deletes or replaces {', '.join(gone)}; {name} may not delete without "
            "approval (may_delete is false)"
        )
    return reasons


def _limit_reasons(plan: PlanView, agent: Mapping[str, Any]) -> list[str]:
    """Reasons about how much the plan adds: cost per change and per day, accelerators."""
    name, envelope = agent["name"], agent["autonomy"]
    cost = plan.extra.get("cost") or {}
    currency = str(cost.get("currency") or agent.get("currency") or "USD")
    delta = _amount(cost.get("monthly_delta")) or Decimal(0)
    reasons = []
    per_change = _amount(envelope.get("max_cost_delta_per_change"))
    if per_change is not None and delta > per_change:
        reasons.append(
            f"the change adds {_money(delta, currency)}; {name} may add at most "
            f"{_money(per_change, currency)} per change without approval"
        )
    per_day = _amount(envelope.get("max_cost_delta_per_day"))
    spent = _amount(agent.get("spent_today")) or Decimal(0)
    if per_day is not None and spent + max(delta, Decimal(0)) > per_day:
        reasons.append(
            f"with this change {name} would add {_money(spent + max(delta, Decimal(0)), currency)} "
            f"today ({_money(spent, currency)} already applied since 00:00 UTC); {name} may add "
            f"at most {_money(per_day, currency)} per day without approval"
        )
    most = envelope.get("max_accelerators")
    wanted = int(agent.get("accelerators") or 0)
    if most is not None and wanted > int(most):
        reasons.append(
            f"the change asks for {wanted} accelerators; {name} may use at most {most} "
            "without approval"
        )
    return reasons


def envelope_reasons(plan: PlanView, agent: Mapping[str, Any]) -> list[str]:
    """Return one reason per limit of the agent's envelope that the plan crosses."""
    return _scope_reasons(plan, agent["name"], agent["autonomy"]) + _limit_reasons(plan, agent)


class AutonomyGate:
    """Lets a registered agent act alone inside its autonomy envelope, else asks a human."""

    name: ClassVar[str] = "autonomy"

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Allow a plan inside the agent's envelope; outside it, ask for a human approval."""
        if actor.kind != "agent":
            return Verdict(self.name, VerdictKind.ALLOW, (f"{actor.name} is not an agent",))
        if "agent" not in plan.extra:
            # Fail closed: whoever built the view did not look the agent up.
            return Verdict(
                self.name,
                VerdictKind.NEEDS_APPROVAL,
                (f"the autonomy envelope of {actor.name} is unknown to this gate",),
            )
        agent = plan.extra["agent"]
        if not agent or agent.get("name") != actor.name:
            return Verdict(
                self.name,
                VerdictKind.ALLOW,
                (f"{actor.name} is not a registered agent: no autonomy envelope applies",),
            )
        reasons = envelope_reasons(plan, agent)
        if not reasons:
            return Verdict(
                self.name, VerdictKind.ALLOW, (f"inside {actor.name}'s autonomy envelope",)
            )
        team = agent.get("team") or plan.team
        production = plan.environment_tier == "prod" or plan.environment_protected
        who = "a release manager" if production else "a developer, ML engineer or release manager"
        return Verdict(
            self.name,
            VerdictKind.NEEDS_APPROVAL,
            tuple(reasons),
            (
                f"{who} of team {team!r} (or a platform engineer) approves the request; the "
                "plan is then applied as it is, on the agent's behalf",
                f"or change the plan so it stays inside {actor.name}'s autonomy envelope",
            ),
        )
