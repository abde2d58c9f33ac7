"""Plain data of the authorization capability: requests, decisions, policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plinth.capabilities.identity.schemas import Actor

__all__ = ["ALLOW", "DENY", "NEEDS_APPROVAL", "AuthzDecision", "AuthzRequest", "PolicyInfo"]

ALLOW = "allow"
NEEDS_APPROVAL = "needs_approval"
DENY = "deny"


@dataclass(frozen=True)
class AuthzRequest:
    """One question to the authorizer: may ``principal`` do ``action`` on ``resource``?

    ``resource`` is ``{"type": "Environment"|"Plan"|"Tool"|..., "id": str, "attrs": {...},
    "parents": [{"type": ..., "id": ...}]}`` (types without the ``Plinth::`` namespace);
    ``context`` holds the facts of the request (see ``plinth.capabilities.authz.requests``).
    """

    principal: Actor
    action: str
    resource: Mapping[str, Any]
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthzDecision:
    """The answer, with the policies that determined it and their reasons."""

    outcome: str
    reasons: tuple[str, ...]
    policies: tuple[str, ...]
    errors: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """True if the outcome is allow."""
        return self.outcome == ALLOW

    def as_dict(self) -> dict[str, Any]:
        """Return the decision as JSON data."""
        return {
            "outcome": self.outcome,
            "reasons": list(self.reasons),
            "policies": list(self.policies),
            "suggestions": list(self.suggestions),
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class PolicyInfo:
    """One compiled policy: its id (``<set>.<@id>``), effect, source and annotations."""

    id: str
    effect: str
    policy_set: str
    reason: str
    suggestion: str = ""
    line: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the policy's description as JSON data."""
        return {
            "id": self.id,
            "effect": self.effect,
            "policy_set": self.policy_set,
            "reason": self.reason,
            "suggestion": self.suggestion,
            "line": self.line,
        }
