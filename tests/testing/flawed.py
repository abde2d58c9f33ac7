"""A small provider with one switchable flaw each, for testing the contract kit itself."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

from plinth.core.digest import digest
from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import (
    ChangeAction,
    Observation,
    ProviderChange,
    Resource,
    Usage,
)

__all__ = ["FLAWS", "THING", "FlawedProvider"]

FLAWS = ("none", "duplicates", "leaks", "untyped", "plan-creates", "forgets")
"""``forgets``: observe needs state to see the thing (it does not look at the world)."""

THING = Resource(
    id="res_thing", type="thing", name="thing", environment="dev", project="kit", spec={"size": 1}
)


class FlawedProvider:
    """Keeps ``thing`` resources in a dict of copies; ``flaw`` breaks one rule on purpose."""

    name: ClassVar[str] = "flawed"

    def __init__(self, flaw: str) -> None:
        self.flaw = flaw
        self.world: dict[str, list[dict[str, Any]]] = {}

    def resource_types(self) -> Mapping[str, Mapping[str, Any]]:
        """Declare ``thing`` with an integer ``size``."""
        schema = {"type": "object", "properties": {"size": {"type": "integer"}}}
        return {"thing": schema}

    def plan(self, desired: Resource | None, observed: Observation | None) -> ProviderChange:
        """Compare (and, with the flaw ``plan-creates``, create)."""
        if desired is None:
            exists = observed is not None and observed.exists
            return ProviderChange(ChangeAction.DELETE if exists else ChangeAction.NOOP)
        if self.flaw == "plan-creates":
            self._make(desired)
        if observed is None or not observed.exists:
            return ProviderChange(ChangeAction.CREATE)
        if observed.applied_digest != digest(dict(desired.spec)):
            return ProviderChange(ChangeAction.UPDATE)
        return ProviderChange(ChangeAction.NOOP)

    def _make(self, resource: Resource) -> None:
        copies = self.world.setdefault(resource.id, [])
        if not copies or self.flaw == "duplicates":
            copies.append({"digest": digest(dict(resource.spec)), "token": secrets.token_hex(8)})

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Make the thing exist (once, unless the flaw says otherwise)."""
        if resource.type != "thing":
            raise PermanentError(f"no type {resource.type!r} here")
        if not isinstance(resource.spec.get("size"), int):
            if self.flaw == "untyped":
                raise ValueError("size is not a number")
            raise PermanentError("spec['size'] must be an integer")
        self._make(resource)
        return self.observe(resource, {"seen": True})

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report the copies that exist."""
        copies = self.world.get(resource.id) or []
        if not copies or (self.flaw == "forgets" and not state):
            return Observation(exists=False)
        token = copies[-1]["token"]
        return Observation(
            exists=True,
            phase="ready",
            healthy=True,
            outputs={"token": token},
            secret_outputs=frozenset({"token"}),
            state={"seen": True, **({"token": token} if self.flaw == "leaks" else {})},
            applied_digest=copies[-1]["digest"],
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Remove every copy."""
        self.world.pop(resource.id, None)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Nothing is metered."""
        return Usage()
