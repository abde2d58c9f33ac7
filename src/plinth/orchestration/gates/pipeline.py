"""The gate pipeline: the configured gates, in order, each giving a verdict."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import InvalidInput
from plinth.orchestration.gates.base import Gate, GateContext, PlanView, Verdict

__all__ = ["GatePipeline", "discover_gates"]


def discover_gates() -> dict[str, Callable[[], Gate]]:
    """Return every gate registered under the ``plinth.gates`` entry point group."""
    return {ep.name: ep.load() for ep in entry_points(group="plinth.gates")}


class GatePipeline:
    """Runs gates in the configured order; adding a gate never changes this code."""

    def __init__(self, gates: list[Gate]) -> None:
        self.gates = gates

    @classmethod
    def from_names(cls, names: list[str]) -> GatePipeline:
        """Build the pipeline from gate names (entry points)."""
        available = discover_gates()
        unknown = [n for n in names if n not in available]
        if unknown:
            raise InvalidInput(f"unknown gates {unknown}; installed: {sorted(available)}")
        return cls([available[n]() for n in names])

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> list[Verdict]:
        """Return every gate's verdict, in order."""
        return [gate.evaluate(plan, actor, context) for gate in self.gates]
