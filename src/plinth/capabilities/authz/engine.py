"""The authorizer: Cedar decisions with the policies that determined them, in three outcomes.

``decide`` asks Cedar about the request's action. Allowed: ``allow``, with the reasons of
the permits that matched. Denied: it asks again with ``<action>_with_approval`` (for
``change`` and ``call_tool``); a permit there (and no forbid) gives ``needs_approval``.
Otherwise ``deny``, with the reasons of the forbids that matched or, when nothing
matched (deny by default), the reasons of the explanation policies (``explain.cedar``)
that match the request. A forbid that fails to evaluate denies (fail closed).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import cedarpy

from plinth.capabilities.authz.entities import (
    entities_for,
    held_roles,
    owner_team,
    principal_uid,
    resource_key,
)
from plinth.capabilities.authz.entities import entity_uid as _uid
from plinth.capabilities.authz.policies import (
    CompiledPolicies,
    compile_policy_sets,
    default_policy_text,
    explain_policy_text,
)
from plinth.capabilities.authz.requests import normalized_context
from plinth.capabilities.authz.schemas import (
    ALLOW,
    DENY,
    NEEDS_APPROVAL,
    AuthzDecision,
    AuthzRequest,
    PolicyInfo,
)
from plinth.capabilities.identity.schemas import Actor
from plinth.core.digest import digest

__all__ = ["DEFAULT_SET", "Authorizer", "authorizer_for"]

DEFAULT_SET = "default"
EXPLAIN_SET = "explain"
MEMO_SIZE = 16_384
WITH_APPROVAL = {"change": "change_with_approval", "call_tool": "call_tool_with_approval"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(!r)?\}")
_POLICY_IN_ERROR = re.compile(r"policy `?([^`\s]+)`?")


class Authorizer:
    """Decides requests against pre-parsed Cedar policy sets (defaults plus extensions)."""

    def __init__(self, sets: Sequence[tuple[str, str]], *, explain: str | None = None) -> None:
        self.sets: tuple[tuple[str, str], ...] = tuple(sets)
        self.compiled: CompiledPolicies = compile_policy_sets(self.sets)
        self.explanations: CompiledPolicies = compile_policy_sets(
            [(EXPLAIN_SET, explain if explain is not None else explain_policy_text())]
        )
        self.digest = digest([list(s) for s in self.sets])
        self._memo: dict[tuple[Actor, str, str, str], AuthzDecision] = {}
        self._lock = threading.Lock()

    @classmethod
    def default(cls, extra: Sequence[tuple[str, str]] = ()) -> Authorizer:
        """Return an authorizer of the default policies plus ``extra`` (name, Cedar text) sets."""
        return cls([(DEFAULT_SET, default_policy_text()), *extra])

    @property
    def policies(self) -> dict[str, PolicyInfo]:
        """Return every policy (not the explanations) by id."""
        return dict(self.compiled.policies)

    def decide(
        self, request: AuthzRequest, *, now: datetime | None = None, cached: bool = True
    ) -> AuthzDecision:
        """Return the decision on ``request``: allow, needs_approval or deny, with reasons.

        Decisions are a pure function of the request (the policy sets never change), so
        they are remembered per (principal, action, resource, context); ``cached=False``
        always asks Cedar.
        """
        context = normalized_context(request.action, request.context, now=now)
        if not cached:
            return self._evaluate(request, context)
        key = (
            request.principal,
            request.action,
            resource_key(request.resource),
            json.dumps(context, sort_keys=True, default=str),
        )
        found = self._memo.get(key)
        if found is not None:
            return found
        decision = self._evaluate(request, context)
        with self._lock:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = decision
        return decision

    def _evaluate(self, request: AuthzRequest, context: Mapping[str, Any]) -> AuthzDecision:
        """Ask Cedar (up to three times: the action, its approval variant, the explanations)."""
        entities = entities_for(request.principal, request.resource)
        first = self._ask(request, request.action, context, entities)
        if first.allowed:
            return self._settled(ALLOW, first, request, context)
        second = None
        if request.action in WITH_APPROVAL:
            second = self._ask(request, WITH_APPROVAL[request.action], context, entities)
            if second.allowed:
                return self._settled(NEEDS_APPROVAL, second, request, context)
        for result in (first, second):
            if result is not None and result.diagnostics.reasons:  # forbids matched
                return self._decision(DENY, result, self.compiled, request, context)
        for result in (first, second):
            if result is not None and _forbid_errors(result, self.compiled):
                return self._failed_closed(result)
        return self._default_deny(request, context, entities, errors=first.diagnostics.errors)

    def _settled(
        self,
        outcome: str,
        result: cedarpy.AuthzResult,
        request: AuthzRequest,
        context: Mapping[str, Any],
    ) -> AuthzDecision:
        """Return a permitted outcome, unless a forbid failed to evaluate (fail closed)."""
        if _forbid_errors(result, self.compiled):
            return self._failed_closed(result)
        return self._decision(outcome, result, self.compiled, request, context)

    def explain_request(self, request: AuthzRequest) -> dict[str, Any]:
        """Return the request as sent to Cedar (principal, action, resource, context, entities)."""
        context = normalized_context(request.action, request.context)
        return {
            "principal": principal_uid(request.principal),
            "action": _uid("Action", request.action),
            "resource": _uid(str(request.resource.get("type")), str(request.resource.get("id"))),
            "context": context,
            "entities": str(entities_for(request.principal, request.resource)),
        }

    def _ask(
        self,
        request: AuthzRequest,
        action: str,
        context: Mapping[str, Any],
        entities: cedarpy.Entities,
        policies: CompiledPolicies | None = None,
    ) -> cedarpy.AuthzResult:
        """Ask Cedar about one action of the request."""
        cedar_request = {
            "principal": principal_uid(request.principal),
            "action": _uid("Action", action),
            "resource": _uid(str(request.resource["type"]), str(request.resource["id"])),
            "context": dict(context),
        }
        team = context.get("team")
        handle = (policies or self.compiled).for_action(
            action, team if isinstance(team, str) else None
        )
        return cedarpy.is_authorized(cedar_request, handle, entities)

    def _decision(
        self,
        outcome: str,
        result: cedarpy.AuthzResult,
        compiled: CompiledPolicies,
        request: AuthzRequest,
        context: Mapping[str, Any],
    ) -> AuthzDecision:
        """Build a decision from the policies Cedar reports as determining."""
        infos = sorted(
            (compiled.policies[i] for i in result.diagnostics.reasons if i in compiled.policies),
            key=lambda info: compiled.position(info.id),
        )
        values = _Values(request, context)
        return AuthzDecision(
            outcome=outcome,
            reasons=tuple(_fill(i.reason or f"policy {i.id}", values) for i in infos),
            policies=tuple(i.id for i in infos),
            errors=tuple(result.diagnostics.errors),
            suggestions=_unique(_fill(i.suggestion, values) for i in infos if i.suggestion),
        )

    def _failed_closed(self, result: cedarpy.AuthzResult) -> AuthzDecision:
        """Deny because a forbid could not be evaluated."""
        failed = _forbid_errors(result, self.compiled)
        return AuthzDecision(
            outcome=DENY,
            reasons=tuple(f"forbid policy {p} could not be evaluated: denied" for p in failed),
            policies=failed,
            errors=tuple(result.diagnostics.errors),
            suggestions=("fix the policy, or the request's context",),
        )

    def _default_deny(
        self,
        request: AuthzRequest,
        context: Mapping[str, Any],
        entities: cedarpy.Entities,
        *,
        errors: Sequence[str],
    ) -> AuthzDecision:
        """Deny by default, with the explanations that match the request."""
        why = self._ask(request, request.action, context, entities, self.explanations)
        if why.diagnostics.reasons:
            why_ids = sorted(why.diagnostics.reasons, key=self.explanations.position)
            infos = [self.explanations.policies[i] for i in why_ids]
            values = _Values(request, context)
            return AuthzDecision(
                outcome=DENY,
                reasons=tuple(_fill(i.reason, values) for i in infos),
                policies=tuple(why_ids),
                errors=tuple(errors),
                suggestions=_unique(_fill(i.suggestion, values) for i in infos if i.suggestion),
            )
        resource = f"{request.resource.get('type')} {request.resource.get('id')!r}"
        return AuthzDecision(
            outcome=DENY,
            reasons=(
                f"no policy permits {request.principal.name} to {request.action} "
                f"{resource} (deny by default)",
            ),
            policies=("default-deny",),
            errors=tuple(errors),
            suggestions=("ask a platform engineer to extend the authorization policies",),
        )


def _forbid_errors(result: cedarpy.AuthzResult, compiled: CompiledPolicies) -> tuple[str, ...]:
    """Return the ids of forbid policies whose evaluation failed."""
    failed: list[str] = []
    for error in result.diagnostics.errors:
        found = _POLICY_IN_ERROR.search(str(error))
        info = compiled.policies.get(found.group(1)) if found else None
        if info is not None and info.effect == "forbid":
            failed.append(info.id)
    return tuple(failed)


class _Values:
    """The values a reason's ``{placeholders}`` may name, looked up only when used."""

    def __init__(self, request: AuthzRequest, context: Mapping[str, Any]) -> None:
        self.request = request
        self.context = context

    def get(self, name: str) -> str | None:
        """Return the value of one placeholder, or None when it names nothing."""
        actor, resource = self.request.principal, self.request.resource
        special = {
            "actor": lambda: actor.name,
            "held": lambda: held_roles(actor),
            "owner_team": lambda: owner_team(actor),
            "action": lambda: self.request.action,
            "resource": lambda: str(resource.get("id", "")),
            "resource_type": lambda: str(resource.get("type", "")),
        }
        if name in special:
            return special[name]()
        value = self.context.get(name, (resource.get("attrs") or {}).get(name))
        if isinstance(value, (list, tuple, set, frozenset)):
            return ", ".join(str(v) for v in value)
        if value is None or isinstance(value, Mapping):
            return None
        return str(value)


def _fill(template: str, values: _Values) -> str:
    """Fill ``{name}`` / ``{name!r}`` placeholders; unknown names stay as written."""

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            return match.group(0)
        return repr(value) if match.group(2) else value

    return _PLACEHOLDER.sub(one, template)


def _unique(items: Any) -> tuple[str, ...]:
    """Return the items without repeats, in order."""
    return tuple(dict.fromkeys(items))


_CACHE: dict[str, Authorizer] = {}
_CACHE_SIZE = 32
_LOCK = threading.Lock()


def authorizer_for(extra: Sequence[tuple[str, str]]) -> Authorizer:
    """Return the authorizer of the defaults plus ``extra``, cached by the texts' digest."""
    sets = tuple((str(name), str(text)) for name, text in extra)
    key = digest([list(s) for s in sets])
    with _LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    built = Authorizer.default(sets)
    with _LOCK:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        return _CACHE.setdefault(key, built)
