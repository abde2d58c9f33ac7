"""Building authorization requests: the facts each action's policies read from the context.

Every request's context has ``hour`` and ``weekday`` (UTC, Monday = 0), ``tier`` and
``protected`` (of the environment, ``""``/false when none) and ``cost_delta_cents`` (the
estimated monthly cost delta, in cents of the price book's currency; an integer because
Cedar compares integers). Then per action:

- ``change``: ``part`` (``organisation`` or ``project``), ``kinds`` and ``actions`` (of the
  part's changes, no-ops left out), ``creates`` (names created), ``environment``,
  ``project``, ``team``. Resource: ``Environment`` with ``tier`` and ``protected``.
- ``approve``: resource ``Plan`` with ``team``, ``project``, ``environment``, ``author``.
- ``call_tool``: ``tool`` (``server/tool``), ``server``, ``trust`` (trusted, internal,
  untrusted), ``annotations`` (the MCP hints, with the MCP defaults filled in), ``granted``
  (the tool matches one of the agent's tool globs). Resource: ``Tool`` in its ``McpServer``.
- ``read``: ``granted`` (agents: the kind is in the agent's ``context.read``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

from plinth.capabilities.authz.schemas import AuthzRequest
from plinth.capabilities.identity.schemas import Actor

__all__ = [
    "ACTIONS",
    "ORG_KINDS",
    "TOOL_HINT_DEFAULTS",
    "TRUST_TIERS",
    "approve_request",
    "change_request",
    "cost_cents",
    "normalized_context",
    "read_request",
    "tool_granted",
    "tool_request",
]

ACTIONS = ("change", "approve", "call_tool", "read")
ORG_KINDS = frozenset(
    {
        "Template",
        "Environment",
        "Team",
        "Project",
        "Budget",
        "PriceBook",
        "Agent",
        "McpServer",
        "AuthorizationPolicy",
        "Policy",
        "PolicyException",
        "LlmProvider",
        "LlmAccess",
    }
)
TRUST_TIERS = ("trusted", "internal", "untrusted")
TOOL_HINT_DEFAULTS = {
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}
_COMMON: dict[str, Any] = {
    "tier": "",
    "protected": False,
    "cost_delta_cents": 0,
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "change": {
        "part": "project",
        "kinds": [],
        "actions": [],
        "creates": [],
        "environment": "",
        "project": "",
        "team": "",
    },
    "approve": {"environment": "", "project": "", "team": ""},
    "call_tool": {"tool": "", "server": "", "trust": "untrusted", "granted": False},
    "read": {"granted": False},
}


def normalized_context(
    action: str, context: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any]:
    """Return ``context`` with every key the action's policies read (defaults filled in).

    ``now`` (default: the time in the context, else the current time) sets hour and weekday.
    """
    base = action.removesuffix("_with_approval")
    merged: dict[str, Any] = {**_COMMON, **_DEFAULTS.get(base, {}), **context}
    if now is not None or "hour" not in merged or "weekday" not in merged:
        at = (now or datetime.now(UTC)).astimezone(UTC)
        merged["hour"], merged["weekday"] = at.hour, at.weekday()
    if base == "call_tool":
        merged["annotations"] = {**TOOL_HINT_DEFAULTS, **dict(merged.get("annotations") or {})}
    for key in ("kinds", "actions", "creates"):
        if key in merged:
            merged[key] = sorted({str(v) for v in merged[key]})
    return merged


def cost_cents(delta: Any) -> int:
    """Return a money amount (``"12.34"``, Decimal, number) as whole cents, 0 when unknown."""
    try:
        return int((Decimal(str(delta)) * 100).to_integral_value())
    except (InvalidOperation, ValueError):
        return 0


def change_request(
    actor: Actor,
    *,
    environment: str,
    tier: str,
    protected: bool,
    project: str,
    team: str,
    changes: Iterable[Mapping[str, Any]],
    part: str,
    cost_delta: Any = 0,
    now: datetime | None = None,
) -> AuthzRequest:
    """Return the ``change`` request of one part of a plan (its org documents or workloads)."""
    live = [c for c in changes if c.get("action") != "no-op"]
    context = {
        "part": part,
        "kinds": [c["kind"] for c in live],
        "actions": [c["action"] for c in live],
        "creates": [c.get("name", "") for c in live if c["action"] == "create"],
        "environment": environment,
        "tier": tier,
        "protected": protected,
        "project": project,
        "team": team,
        "cost_delta_cents": cost_cents(cost_delta),
    }
    resource = {
        "type": "Environment",
        "id": environment,
        "attrs": {"tier": tier, "protected": protected},
    }
    return AuthzRequest(actor, "change", resource, normalized_context("change", context, now=now))


def approve_request(
    actor: Actor,
    *,
    plan: str,
    author: str,
    team: str,
    project: str = "",
    environment: str = "",
    tier: str = "",
    protected: bool = False,
    cost_delta: Any = 0,
    now: datetime | None = None,
    routed: bool = False,
) -> AuthzRequest:
    """Return the ``approve`` request of a plan (digest ``plan``) asked for by ``author``.

    ``routed``: the plan is an agent's request, routed to its owner team ``team``.
    """
    attrs = {
        "team": team,
        "project": project,
        "environment": environment,
        "author": author,
        "routed": routed,
    }
    context = {
        "team": team,
        "project": project,
        "environment": environment,
        "tier": tier,
        "protected": protected,
        "cost_delta_cents": cost_cents(cost_delta),
    }
    resource = {"type": "Plan", "id": plan, "attrs": attrs}
    return AuthzRequest(actor, "approve", resource, normalized_context("approve", context, now=now))


def tool_granted(tool: str, globs: Sequence[str]) -> bool:
    """True if ``server/tool`` matches one of an agent's tool globs (``time/*``)."""
    return any(fnmatchcase(tool, pattern) for pattern in globs)


def tool_request(
    actor: Actor,
    *,
    server: str,
    tool: str,
    trust: str,
    annotations: Mapping[str, Any] | None,
    granted: bool,
    now: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> AuthzRequest:
    """Return the ``call_tool`` request of one MCP tool call through the gateway."""
    full = f"{server}/{tool}"
    hints = {k: bool(v) for k, v in (annotations or {}).items() if k in TOOL_HINT_DEFAULTS}
    context = {
        **(extra or {}),
        "tool": full,
        "server": server,
        "trust": trust,
        "annotations": hints,
        "granted": granted,
    }
    resource = {
        "type": "Tool",
        "id": full,
        "attrs": {"server": server, "name": tool, "trust": trust},
        "parents": [{"type": "McpServer", "id": server}],
    }
    return AuthzRequest(
        actor, "call_tool", resource, normalized_context("call_tool", context, now=now)
    )


def read_request(
    actor: Actor, *, kind: str, name: str = "", granted: bool, now: datetime | None = None
) -> AuthzRequest:
    """Return the ``read`` request of a kind of document (or one document)."""
    resource = {"type": "Kind", "id": kind, "attrs": {"name": name}}
    context = normalized_context("read", {"granted": granted, "kind": kind}, now=now)
    return AuthzRequest(actor, "read", resource, context)
