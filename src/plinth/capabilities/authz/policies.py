"""Compiling Cedar policy sets: parse once, name each policy after its set, keep annotations.

A policy's id is ``<set name>.<@id>`` (or ``<set name>.policy<N>`` without ``@id``), so a
decision says which set a determining policy came from. Invalid Cedar is refused with
``InvalidInput`` naming the set and the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import cedarpy

from plinth.capabilities.authz.schemas import PolicyInfo
from plinth.core.errors import InvalidInput

__all__ = ["CompiledPolicies", "compile_policy_sets", "default_policy_text", "explain_policy_text"]

_SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_END_OF_INPUT = "unexpected end of input"


@dataclass(frozen=True)
class CompiledPolicies:
    """A parsed policy set (a cedarpy handle) and what we know of each policy in it."""

    handle: cedarpy.PolicySet
    policies: dict[str, PolicyInfo]
    order: dict[str, int]
    by_action: dict[str, cedarpy.PolicySet]
    any_action: cedarpy.PolicySet
    static: dict[str, Any] = field(default_factory=dict, repr=False)
    _by_team: dict[tuple[str, str], cedarpy.PolicySet] = field(default_factory=dict, repr=False)

    def for_action(self, action: str, team: str | None = None) -> cedarpy.PolicySet:
        """Return the policies that can match ``action`` (and ``team``): same decisions, faster.

        A policy whose ``when`` condition requires ``context.team == "<team>"`` (a top-level
        conjunct) cannot match a request for another team, so it is left out of that
        team's set. Sets per (action, team) are built once, on first use.
        """
        if team is None or not self.static:
            return self.by_action.get(action, self.any_action)
        found = self._by_team.get((action, team))
        if found is None:
            found = _handle(
                {
                    p: b
                    for p, b in self.static.items()
                    if _matches_action(b, action) and _team_of(b) in (None, team)
                }
            )
            if len(self._by_team) < 4096:
                self._by_team[(action, team)] = found
        return found

    def position(self, policy_id: str) -> int:
        """Return where a policy comes in the sets (unknown ids last)."""
        return self.order.get(policy_id, len(self.order))


def default_policy_text() -> str:
    """Return the Cedar text of the default policies shipped with Plinth."""
    return (files("plinth.capabilities.authz") / "cedar" / "default.cedar").read_text("utf-8")


def explain_policy_text() -> str:
    """Return the Cedar text of the default-deny explanations."""
    return (files("plinth.capabilities.authz") / "cedar" / "explain.cedar").read_text("utf-8")


def compile_policy_sets(sets: Sequence[tuple[str, str]]) -> CompiledPolicies:
    """Parse every ``(name, Cedar text)`` set into one handle with set-prefixed policy ids."""
    static: dict[str, Any] = {}
    infos: dict[str, PolicyInfo] = {}
    seen: set[str] = set()
    for name, text in sets:
        if not _SET_NAME.match(name):
            raise InvalidInput(
                f"policy set name {name!r} must be letters, digits, '.', '_' or '-' "
                "(at most 100 characters)"
            )
        if name in seen:
            raise InvalidInput(f"policy set {name!r} is given twice")
        seen.add(name)
        for policy_id, body, info in _policies_of(name, text):
            if policy_id in static:
                raise InvalidInput(
                    f"policy set {name!r}, line {info.line}: two policies have the id {policy_id!r}"
                )
            static[policy_id] = body
            infos[policy_id] = info
    scopes = {policy_id: _actions_of(body) for policy_id, body in static.items()}
    named = sorted({a for found in scopes.values() if found is not None for a in found})
    by_action = {
        action: _handle(
            {p: b for p, b in static.items() if scopes[p] is None or action in (scopes[p] or ())}
        )
        for action in named
    }
    any_action = _handle({p: b for p, b in static.items() if scopes[p] is None})
    order = {p: i for i, p in enumerate(infos)}
    return CompiledPolicies(_handle(static), infos, order, by_action, any_action, static)


def _handle(static: dict[str, Any]) -> cedarpy.PolicySet:
    """Build one cedarpy handle from policies in their JSON form."""
    document = {"staticPolicies": static, "templates": {}, "templateLinks": []}
    try:
        return cedarpy.PolicySet.from_json_str(json.dumps(document))
    except ValueError as error:  # each set parsed on its own above; a union should not fail
        raise InvalidInput(f"the policy sets do not combine: {error}") from None


def _matches_action(body: Mapping[str, Any], action: str) -> bool:
    """True if a policy's scope can match ``action``."""
    scope = _actions_of(body)
    return scope is None or action in scope


def _team_of(body: Mapping[str, Any]) -> str | None:
    """Return the team a policy is limited to by a ``context.team == "..."`` conjunct."""
    for condition in body.get("conditions") or ():
        if condition.get("kind") != "when":
            continue
        pending = [condition.get("body") or {}]
        while pending:
            expr = pending.pop()
            if "&&" in expr:
                pending.extend((expr["&&"]["left"], expr["&&"]["right"]))
                continue
            equal = expr.get("==")
            if not equal:
                continue
            left, right = equal.get("left") or {}, equal.get("right") or {}
            attr = left.get(".") or {}
            if attr.get("attr") == "team" and attr.get("left") == {"Var": "context"}:
                value = right.get("Value")
                if isinstance(value, str):
                    return value
    return None


def _actions_of(body: Mapping[str, Any]) -> frozenset[str] | None:
    """Return the action ids a policy's scope names, or None when it matches any action."""
    scope = body.get("action") or {}
    if scope.get("op") == "==":
        listed = [scope.get("entity")]
    elif scope.get("op") == "in":
        listed = scope.get("entities") or [scope.get("entity")]
    else:
        return None
    ids = [e.get("id") for e in listed if isinstance(e, Mapping)]
    if not ids or not all(isinstance(i, str) for i in ids):
        return None
    return frozenset(str(i) for i in ids)


def _policies_of(name: str, text: str) -> Iterator[tuple[str, Any, PolicyInfo]]:
    """Yield each policy of one set: its new id, its JSON form and its description."""
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as error:
        line = _error_line(text)
        raise InvalidInput(f"policy set {name!r}, line {line}: {error}") from None
    if parsed.get("templates"):
        raise InvalidInput(
            f"policy set {name!r}: templates (?principal, ?resource) are not supported; "
            "write static policies"
        )
    starts = statement_lines(text)
    by_number = sorted(parsed["staticPolicies"].items(), key=lambda kv: _number(kv[0]))
    for position, (generated, body) in enumerate(by_number):
        annotations: dict[str, str] = body.get("annotations") or {}
        local = annotations.get("id") or generated
        line = starts[position] if position < len(starts) else 0
        info = PolicyInfo(
            id=f"{name}.{local}",
            effect=str(body["effect"]),
            policy_set=name,
            reason=annotations.get("reason", ""),
            suggestion=annotations.get("suggestion", ""),
            line=line,
        )
        yield info.id, body, info


def _number(generated: str) -> int:
    """Return N of Cedar's generated id ``policyN`` (order of the policies in the text)."""
    digits = generated.removeprefix("policy")
    return int(digits) if digits.isdigit() else 0


def statement_lines(text: str) -> list[int]:
    """Return the line (1-based) where each ``;``-terminated statement of ``text`` starts."""
    starts: list[int] = []
    line, start, i, n = 1, 0, 0, len(text)
    while i < n:
        char = text[i]
        if char == "\n":
            line += 1
        elif char == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif char == '"':
            i, line, start = _skip_string(text, i, line, start)
            continue
        elif char == ";":
            if start:
                starts.append(start)
            start = 0
        elif not char.isspace() and not start:
            start = line
        i += 1
    return starts


def _skip_string(text: str, i: int, line: int, start: int) -> tuple[int, int, int]:
    """Skip a string literal from its opening quote; return the index after it."""
    start = start or line
    i += 1
    while i < len(text) and text[i] != '"':
        if text[i] == "\\":
            i += 1
        elif text[i] == "\n":
            line += 1
        i += 1
    return i + 1, line, start


def _error_line(text: str) -> int:
    """Return the line of the first error in ``text``: the shortest failing prefix of lines."""
    lines = text.splitlines(keepends=True)
    prefix = ""
    last = 1
    for number, content in enumerate(lines, start=1):
        prefix += content
        if content.strip():
            last = number
        try:
            cedarpy.policies_to_json_str(prefix)
        except ValueError as error:
            if str(error) != _END_OF_INPUT:
                return number
    return last
