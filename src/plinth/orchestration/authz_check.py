"""Explaining authorization decisions: ``plinth authz check``, the API and MCP share this.

``check`` builds the same Cedar requests the gates and the gateway build, decides them,
and returns the outcome, the determining policies (id, effect, policy set, line, reason)
and each request exactly as sent to Cedar. ``explain`` resolves the facts from the store
first: the principal (``as``), the environment's tier, the project's team, an agent's
granted tools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from plinth.capabilities.agents import service as agents
from plinth.capabilities.authz import (
    ORG_KINDS,
    Authorizer,
    AuthzDecision,
    AuthzRequest,
    approve_request,
    change_request,
    read_request,
    tool_granted,
    tool_request,
)
from plinth.capabilities.authz.requests import ACTIONS
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor, Role
from plinth.core.errors import Forbidden, InvalidInput
from plinth.infrastructure.store.db import Database

__all__ = ["AuthzSource", "EnvironmentFacts", "check", "explain"]

_SEVERITY = ("deny", "needs_approval", "allow")
_QUERY_KEYS = frozenset(
    {
        "principal",
        "action",
        "environment",
        "project",
        "team",
        "kinds",
        "actions",
        "plan",
        "author",
        "tool",
        "trust",
        "annotations",
        "granted",
        "context",
    }
)


@dataclass(frozen=True)
class EnvironmentFacts:
    """What the policies know of an environment."""

    name: str
    tier: str = ""
    protected: bool = False


class AuthzSource(Protocol):
    """What ``explain`` needs of the platform: its store and its authorizer."""

    db: Database

    def authorizer(self) -> Authorizer:
        """Return the authorizer with the organisation's policies."""
        ...


def check(
    authorizer: Authorizer,
    actor: Actor,
    *,
    action: str,
    environment: EnvironmentFacts | None = None,
    project: str | None = None,
    team: str | None = None,
    kinds: Sequence[str] = (),
    actions: Sequence[str] = (),
    plan: str | None = None,
    author: str = "",
    tool: str | None = None,
    trust: str = "internal",
    annotations: Mapping[str, Any] | None = None,
    granted: bool | None = None,
    context: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Decide and explain one question: outcome, determining policies, requests as sent."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    env = environment or EnvironmentFacts("")
    extra = dict(context or {})
    if action == "change":
        requests = _change_requests(actor, env, project or "", team or "", kinds, actions, now)
    elif action == "approve":
        requests = [
            approve_request(
                actor,
                plan=plan or "",
                author=author,
                team=team or "",
                project=project or "",
                environment=env.name,
                tier=env.tier,
                protected=env.protected,
                now=now,
            )
        ]
    elif action == "call_tool":
        requests = [_tool_request(actor, tool or "", trust, annotations, granted, now)]
    else:
        kind = kinds[0] if kinds else "Workload"
        requests = [read_request(actor, kind=kind, granted=bool(granted), now=now)]
    requests = [_with_context(r, extra) for r in requests]
    decided = [(r, authorizer.decide(r, now=now)) for r in requests]
    return _report(authorizer, actor, action, decided)


def _change_requests(
    actor: Actor,
    env: EnvironmentFacts,
    project: str,
    team: str,
    kinds: Sequence[str],
    actions: Sequence[str],
    now: datetime | None,
) -> list[AuthzRequest]:
    """Return one change request per part, like the authorization gate builds them."""
    wanted = list(kinds) or ["Workload"]
    verbs = list(actions) or ["update"]
    changes = [{"kind": k, "name": k.lower(), "action": a} for k in wanted for a in verbs]
    parts = {
        "organisation": [c for c in changes if c["kind"] in ORG_KINDS],
        "project": [c for c in changes if c["kind"] not in ORG_KINDS],
    }
    return [
        change_request(
            actor,
            environment=env.name,
            tier=env.tier,
            protected=env.protected,
            project=project if part == "project" else "",
            team=team if part == "project" else "",
            changes=found,
            part=part,
            now=now,
        )
        for part, found in parts.items()
        if found
    ]


def _tool_request(
    actor: Actor,
    tool: str,
    trust: str,
    annotations: Mapping[str, Any] | None,
    granted: bool | None,
    now: datetime | None,
) -> AuthzRequest:
    """Return the call_tool request of ``server/tool``."""
    server, _, name = tool.partition("/")
    if not server or not name:
        raise InvalidInput(f"a tool is named server/tool, e.g. time/get_current_time; got {tool!r}")
    return tool_request(
        actor,
        server=server,
        tool=name,
        trust=trust,
        annotations=annotations,
        granted=bool(granted),
        now=now,
    )


def _with_context(request: AuthzRequest, extra: Mapping[str, Any]) -> AuthzRequest:
    """Return the request with extra context facts (they override the built ones)."""
    if not extra:
        return request
    merged = {**request.context, **extra}
    return AuthzRequest(request.principal, request.action, request.resource, merged)


def _report(
    authorizer: Authorizer,
    actor: Actor,
    action: str,
    decided: Sequence[tuple[AuthzRequest, AuthzDecision]],
) -> dict[str, Any]:
    """Return the explanation of the decisions (the most severe outcome first)."""
    outcome = next(o for o in _SEVERITY if any(d.outcome == o for _, d in decided))
    chosen = [d for _, d in decided if d.outcome == outcome]
    known = {**authorizer.explanations.policies, **authorizer.compiled.policies}
    policies = []
    for decision in chosen:
        for policy_id, reason in zip(decision.policies, decision.reasons, strict=True):
            info = known.get(policy_id)
            described = info.as_dict() if info else {"id": policy_id, "effect": "deny"}
            policies.append({**described, "explanation": reason})
    return {
        "principal": actor.name,
        "action": action,
        "outcome": outcome,
        "reasons": list(dict.fromkeys(r for d in chosen for r in d.reasons)),
        "suggestions": list(dict.fromkeys(s for d in chosen for s in d.suggestions)),
        "policies": policies,
        "errors": [e for d in chosen for e in d.errors],
        "policy_sets": [name for name, _ in authorizer.sets],
        "requests": [
            {"cedar": authorizer.explain_request(r), "decision": d.as_dict()} for r, d in decided
        ],
    }


def explain(source: AuthzSource, asker: Actor, query: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve a check query's facts from the store, then ``check`` it."""
    unknown = sorted(set(query) - _QUERY_KEYS)
    if unknown:
        raise InvalidInput(f"unknown fields {unknown}; known: {sorted(_QUERY_KEYS)}")
    with source.db.read() as session:
        actor = asker
        wanted = query.get("principal") or asker.name
        if wanted != asker.name:
            if not (
                asker.has_role(Role.PLATFORM_ENGINEER) or asker.has_role(Role.SECURITY_AUDITOR)
            ):
                raise Forbidden(
                    "checking another principal's access needs the platform-engineer or "
                    "security-auditor role"
                )
            actor = identity.actor_by_name(session, str(wanted))
        env = _environment(session, query.get("environment"))
        project = query.get("project") or None
        team = query.get("team") or None
        if not project and not team and _needs_project(query):
            project = _default_project(session, actor)
        if project and not team:
            team = identity.project_team(session, identity.get_project(session, project))
        granted = query.get("granted")
        if granted is None and query.get("tool") and actor.kind == "agent":
            granted = _granted_tool(session, actor, str(query["tool"]))
    return check(
        source.authorizer(),
        actor,
        action=str(query.get("action") or "change"),
        environment=env,
        project=project,
        team=team,
        kinds=list(query.get("kinds") or ()),
        actions=list(query.get("actions") or ()),
        plan=query.get("plan"),
        author=str(query.get("author") or ""),
        tool=query.get("tool"),
        trust=str(query.get("trust") or "internal"),
        annotations=query.get("annotations"),
        granted=granted,
        context=query.get("context"),
    )


def _needs_project(query: Mapping[str, Any]) -> bool:
    """True for a change question about workloads (the kinds that live in a project)."""
    kinds = list(query.get("kinds") or ["Workload"])
    return (query.get("action") or "change") == "change" and any(k not in ORG_KINDS for k in kinds)


def _default_project(session: Any, actor: Actor) -> str | None:
    """Return the project the planner would choose for the actor, if any."""
    try:
        return identity.default_project(session, actor).name
    except InvalidInput:
        return None


def _environment(session: Any, name: Any) -> EnvironmentFacts | None:
    """Return the facts of a named environment (NotFound when unknown)."""
    if not name:
        return None
    row = identity.get_environment(session, str(name))
    return EnvironmentFacts(row.name, row.tier, bool(row.protected))


def _granted_tool(session: Any, actor: Actor, tool: str) -> bool:
    """True if the agent's spec grants ``tool`` (by its capability.tools globs)."""
    row = agents.get_agent(session, actor.name.removeprefix("agent:"))
    return row is not None and tool_granted(tool, agents.agent_spec(row).tools)
