"""The gate contract: every gate turns a plan into a verdict with reasons.

Gates are plugins (entry point group ``plinth.gates``); which gates run, in which
order, is configuration (``Settings.gates``). A gate has no side effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from plinth.capabilities.identity.schemas import Actor

__all__ = ["Gate", "GateContext", "PlanView", "Verdict", "VerdictKind", "combine"]


class VerdictKind(StrEnum):
    """A gate's answer, from most to least permissive."""

    ALLOW = "allow"
    WARN = "warn"
    NEEDS_APPROVAL = "needs_approval"
    DENY = "deny"


_SEVERITY = {
    VerdictKind.ALLOW: 0,
    VerdictKind.WARN: 1,
    VerdictKind.NEEDS_APPROVAL: 2,
    VerdictKind.DENY: 3,
}


@dataclass(frozen=True)
class Verdict:
    """One gate's verdict, with reasons a person or an agent can act on."""

    gate: str
    verdict: VerdictKind
    reasons: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the verdict as JSON data."""
        return {
            "gate": self.gate,
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "suggestions": list(self.suggestions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Rebuild a verdict from JSON data."""
        return cls(
            gate=data["gate"],
            verdict=VerdictKind(data["verdict"]),
            reasons=tuple(data.get("reasons", ())),
            suggestions=tuple(data.get("suggestions", ())),
        )


def combine(verdicts: list[Verdict]) -> VerdictKind:
    """Return the outcome of several verdicts: the most severe wins."""
    if not verdicts:
        return VerdictKind.ALLOW
    return max((v.verdict for v in verdicts), key=lambda k: _SEVERITY[k])


@dataclass(frozen=True)
class PlanView:
    """What a gate sees of a plan: plain data, no database."""

    environment: str
    environment_tier: str
    environment_protected: bool
    project: str
    team: str
    changes: tuple[Mapping[str, Any], ...]
    violations: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kinds(self) -> set[str]:
        """Return the kinds of document the plan changes (ignoring no-ops)."""
        return {c["kind"] for c in self.changes if c["action"] != "no-op"}

    @property
    def deletes(self) -> bool:
        """True if the plan deletes anything."""
        return any(c["action"] in ("delete", "replace") for c in self.changes)


@dataclass(frozen=True)
class GateContext:
    """Facts gates may use beyond the plan: the time, settings."""

    settings: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Gate(Protocol):
    """Evaluates a plan for one concern (authorization, policy, cost, capacity, ...)."""

    name: ClassVar[str]

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Return this gate's verdict on the plan.

        Args:
            plan: the changes and where they go.
            actor: who asks for them.
            context: other facts (settings, time).

        Returns:
            a verdict; ``deny`` and ``needs_approval`` must carry reasons.
        """
        ...
