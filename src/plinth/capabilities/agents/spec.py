"""The ``Agent`` kind parsed into plain data, with its defaults.

An agent's document declares its owner team, its purpose and the seven concerns
of agent infrastructure (identity, context, capability, execution, evaluation,
security, observability) plus its autonomy envelope: what it may change without
a human. The JSON Schema (``catalog/schemas/agent.schema.json``) checks the
shape; this module adds the defaults and the checks a schema cannot express,
and reports every problem with its JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from plinth.capabilities.catalog.kinds import PLINTH_API_VERSION, schema_issues
from plinth.core.errors import Issue, SpecError

__all__ = [
    "AUDIENCES",
    "DEFAULT_ACTIONS",
    "DEFAULT_APPROVAL_TTL_SECONDS",
    "DEFAULT_TOKEN_TTL_SECONDS",
    "MAX_TOKEN_TTL_SECONDS",
    "AgentSpec",
    "Autonomy",
    "parse_agent_spec",
]

AUDIENCES = ("plinth-api", "plinth-mcp", "plinth-gateway")
"""Where an agent token may be presented: the REST API, the MCP server, the MCP gateway."""
DEFAULT_TOKEN_TTL_SECONDS = 900
MAX_TOKEN_TTL_SECONDS = 86_400
DEFAULT_APPROVAL_TTL_SECONDS = 86_400
DEFAULT_ACTIONS = ("read", "plan", "apply")
"""Platform actions of an agent that declares none (what it may do alone is ``autonomy``)."""


@dataclass(frozen=True)
class Autonomy:
    """What an agent may change without a human; anything outside waits for an approval."""

    actions: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    max_cost_delta_per_change: Decimal | None = None
    max_cost_delta_per_day: Decimal | None = None
    max_accelerators: int | None = None
    may_delete: bool = False
    may_touch_prod: bool = False
    approval_ttl_seconds: int = DEFAULT_APPROVAL_TTL_SECONDS


@dataclass(frozen=True)
class AgentSpec:
    """A parsed ``Agent`` document."""

    name: str
    team: str
    purpose: str
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS
    audiences: tuple[str, ...] = AUDIENCES
    read: tuple[str, ...] = ()
    actions: tuple[str, ...] = DEFAULT_ACTIONS
    tools: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    quotas: Mapping[str, Any] = field(default_factory=dict)
    checks: tuple[str, ...] = ()
    egress: tuple[str, ...] = ()
    data_classes: tuple[str, ...] = ()
    log: tuple[str, ...] = ()
    autonomy: Autonomy = field(default_factory=Autonomy)


def _section(spec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = spec.get(key)
    return value if isinstance(value, Mapping) else {}


def _strings(
    section: Mapping[str, Any], key: str, default: tuple[str, ...] = ()
) -> tuple[str, ...]:
    value = section.get(key)
    if value is None:
        return default
    return tuple(str(v) for v in value)


def _money(value: Any, path: str, issues: list[Issue]) -> Decimal | None:
    """Parse a non-negative amount given as a number or a decimal string."""
    if value is None:
        return None
    if isinstance(value, bool):
        issues.append(Issue("expected a number or a decimal string, got boolean", path))
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        issues.append(
            Issue(f"{value!r} is not an amount: use a number such as 25 or '12.50'", path)
        )
        return None
    if not amount.is_finite() or amount < 0:
        issues.append(Issue(f"{value!r} must be a finite amount of zero or more", path))
        return None
    return amount


def _egress_issues(egress: tuple[str, ...]) -> list[Issue]:
    issues = []
    for i, entry in enumerate(egress):
        _, sep, port = entry.rpartition(":")
        if sep and not 1 <= int(port) <= 65535:
            path = f"$.spec.security.egress[{i}]"
            issues.append(Issue(f"port {port} of {entry!r} is not between 1 and 65535", path))
    return issues


def _autonomy(raw: Mapping[str, Any], issues: list[Issue]) -> Autonomy:
    base = "$.spec.autonomy"
    max_accelerators = raw.get("max_accelerators")
    return Autonomy(
        actions=_strings(raw, "actions"),
        environments=_strings(raw, "environments"),
        max_cost_delta_per_change=_money(
            raw.get("max_cost_delta_per_change"), f"{base}.max_cost_delta_per_change", issues
        ),
        max_cost_delta_per_day=_money(
            raw.get("max_cost_delta_per_day"), f"{base}.max_cost_delta_per_day", issues
        ),
        max_accelerators=None if max_accelerators is None else int(max_accelerators),
        may_delete=bool(raw.get("may_delete", False)),
        may_touch_prod=bool(raw.get("may_touch_prod", False)),
        approval_ttl_seconds=int(raw.get("approval_ttl_seconds", DEFAULT_APPROVAL_TTL_SECONDS)),
    )


def parse_agent_spec(name: str, spec: Mapping[str, Any]) -> AgentSpec:
    """Return the parsed spec of agent ``name``; SpecError (an InvalidInput) names each bad path."""
    document = {
        "apiVersion": PLINTH_API_VERSION,
        "kind": "Agent",
        "metadata": {"name": name},
        "spec": dict(spec) if isinstance(spec, Mapping) else spec,
    }
    found = schema_issues("Agent", document)
    if found:
        raise SpecError([Issue(message, path) for path, message in found])
    issues: list[Issue] = []
    identity = _section(spec, "identity")
    capability = _section(spec, "capability")
    execution = _section(spec, "execution")
    security = _section(spec, "security")
    egress = _strings(security, "egress")
    issues.extend(_egress_issues(egress))
    autonomy = _autonomy(_section(spec, "autonomy"), issues)
    if issues:
        raise SpecError(issues)
    return AgentSpec(
        name=name,
        team=str(spec["team"]),
        purpose=str(spec["purpose"]),
        token_ttl_seconds=int(identity.get("token_ttl_seconds", DEFAULT_TOKEN_TTL_SECONDS)),
        audiences=_strings(identity, "audiences", AUDIENCES),
        read=_strings(_section(spec, "context"), "read"),
        actions=_strings(capability, "actions", DEFAULT_ACTIONS),
        tools=_strings(capability, "tools"),
        environments=_strings(execution, "environments"),
        quotas=dict(_section(execution, "quotas")),
        checks=_strings(_section(spec, "evaluation"), "checks"),
        egress=egress,
        data_classes=_strings(security, "data_classes"),
        log=_strings(_section(spec, "observability"), "log"),
        autonomy=autonomy,
    )
