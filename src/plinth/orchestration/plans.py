"""Plain data of the one path: a plan's changes, effects and inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plinth.core.digest import digest

__all__ = ["Change", "Effects", "PlanDraft", "PlanRequest"]


@dataclass(frozen=True)
class PlanRequest:
    """What a caller asks to plan: documents to apply, or one object to delete."""

    environment: str
    project: str | None = None
    documents: str | None = None
    file: str | None = None
    upgrade: bool = False
    delete_kind: str | None = None
    delete_name: str | None = None


@dataclass
class Change:
    """One line of a plan: what happens to one document or resource."""

    kind: str
    name: str
    action: str
    type: str | None = None
    before: Any = None
    after: Any = None
    reasons: list[str] = field(default_factory=list)
    cost: dict[str, Any] | None = None
    cost_before: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the change as JSON data (``cost``/``cost_before`` only when priced)."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "type": self.type,
            "name": self.name,
            "action": self.action,
            "before": self.before,
            "after": self.after,
            "reasons": list(self.reasons),
        }
        if self.cost is not None:
            data["cost"] = self.cost
        if self.cost_before is not None:
            data["cost_before"] = self.cost_before
        return data


@dataclass
class Effects:
    """Exactly what applying the plan writes to desired state (plain, storable data)."""

    put_documents: list[dict[str, Any]] = field(default_factory=list)
    delete_documents: list[dict[str, Any]] = field(default_factory=list)
    put_resources: list[dict[str, Any]] = field(default_factory=list)
    release_resources: list[dict[str, Any]] = field(default_factory=list)
    organisation: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the effects as JSON data."""
        return {
            "put_documents": self.put_documents,
            "delete_documents": self.delete_documents,
            "put_resources": self.put_resources,
            "release_resources": self.release_resources,
            "organisation": self.organisation,
        }


@dataclass
class PlanDraft:
    """A plan before gates: changes, effects, and the inputs it was computed from."""

    environment: str
    project: str
    team: str
    changes: list[Change] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)
    inputs: dict[str, Any] = field(default_factory=dict)
    violations: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)

    def digest(self, actor: str) -> str:
        """Return the stable digest of this plan for this actor."""
        return digest(
            {
                "environment": self.environment,
                "project": self.project,
                "actor": actor,
                "changes": [c.as_dict() for c in self.changes],
                "effects": self.effects.as_dict(),
                "inputs": self.inputs,
                "conflicts": self.conflicts,
            }
        )
