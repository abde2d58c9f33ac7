"""The document kinds Plinth understands, and their JSON Schemas.

Score workloads keep their own ``apiVersion`` (``score.dev/v1b1``) and carry no
``kind``: every such document is a ``Workload``. Plinth's own kinds live under
``plinth.dev/v1``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from plinth.core.documents import json_path

__all__ = [
    "PLINTH_API_VERSION",
    "SCORE_API_VERSION",
    "KindInfo",
    "api_versions",
    "find_kind",
    "has_schema",
    "json_schema",
    "kinds",
    "kinds_of",
    "schema_issues",
]

SCORE_API_VERSION = "score.dev/v1b1"
PLINTH_API_VERSION = "plinth.dev/v1"


@dataclass(frozen=True)
class KindInfo:
    """One document kind: where it lives, what it is called, how it is checked."""

    api_version: str
    kind: str
    plural: str
    schema: str
    namespaced_by: str | None = None


_KINDS: tuple[KindInfo, ...] = (
    KindInfo(SCORE_API_VERSION, "Workload", "workloads", "workload.schema.json", "environment"),
    KindInfo(PLINTH_API_VERSION, "Environment", "environments", "environment.schema.json"),
    KindInfo(PLINTH_API_VERSION, "Team", "teams", "team.schema.json"),
    KindInfo(PLINTH_API_VERSION, "Project", "projects", "project.schema.json"),
    KindInfo(PLINTH_API_VERSION, "Template", "templates", "template.schema.json"),
    KindInfo(
        PLINTH_API_VERSION, "Application", "applications", "application.schema.json", "environment"
    ),
    KindInfo(PLINTH_API_VERSION, "Budget", "budgets", "budget.schema.json"),
    KindInfo(PLINTH_API_VERSION, "PriceBook", "pricebooks", "pricebook.schema.json"),
    KindInfo(PLINTH_API_VERSION, "Agent", "agents", "agent.schema.json"),
    KindInfo(PLINTH_API_VERSION, "McpServer", "mcpservers", "mcpserver.schema.json"),
    KindInfo(
        PLINTH_API_VERSION,
        "AuthorizationPolicy",
        "authorizationpolicies",
        "authorizationpolicy.schema.json",
    ),
    KindInfo(PLINTH_API_VERSION, "Model", "models", "model.schema.json"),
    KindInfo(
        PLINTH_API_VERSION, "AcceleratorPool", "acceleratorpools", "acceleratorpool.schema.json"
    ),
    KindInfo(PLINTH_API_VERSION, "Policy", "policies", "policy.schema.json"),
    KindInfo(
        PLINTH_API_VERSION, "PolicyException", "policyexceptions", "policyexception.schema.json"
    ),
    KindInfo(PLINTH_API_VERSION, "LlmProvider", "llmproviders", "llmprovider.schema.json"),
    KindInfo(PLINTH_API_VERSION, "LlmAccess", "llmaccesses", "llmaccess.schema.json"),
)


def kinds() -> list[KindInfo]:
    """Return every known kind, in a stable order."""
    return list(_KINDS)


def api_versions() -> list[str]:
    """Return the known ``apiVersion`` values, in a stable order."""
    return list(dict.fromkeys(k.api_version for k in _KINDS))


def kinds_of(api_version: str) -> list[KindInfo]:
    """Return the kinds defined under ``api_version``."""
    return [k for k in _KINDS if k.api_version == api_version]


def find_kind(name: str, api_version: str | None = None) -> KindInfo | None:
    """Return the kind called ``name`` (optionally under ``api_version``), or None."""
    for info in _KINDS:
        if info.kind == name and (api_version is None or info.api_version == api_version):
            return info
    return None


def _schema_resource(kind: str) -> Any:
    info = find_kind(kind)
    if info is None:
        known = ", ".join(k.kind for k in _KINDS)
        raise KeyError(f"unknown kind {kind!r} (known: {known})")
    return resources.files("plinth.capabilities.catalog").joinpath("schemas", info.schema)


def has_schema(kind: str) -> bool:
    """Return whether the packaged JSON Schema for ``kind`` is present."""
    return bool(_schema_resource(kind).is_file())


@cache
def _load_schema(kind: str) -> dict[str, Any]:
    loaded = json.loads(_schema_resource(kind).read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"schema for {kind} is not a JSON object")
    return loaded


def json_schema(kind: str) -> dict[str, Any]:
    """Return (a copy of) the JSON Schema of ``kind``; KeyError or FileNotFoundError if none."""
    return copy.deepcopy(_load_schema(kind))


_DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "dict": "mapping",
    "list": "list",
    "NoneType": "null",
}


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(_load_schema(kind))


def _allowed(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    return sorted(schema.get("properties", {}))


def _describe(error: ValidationError) -> tuple[list[str | int], list[str]]:
    """Return the path parts and the messages for one schema error."""
    parts: list[str | int] = [p for p in error.absolute_path if isinstance(p, str | int)]
    keyword = error.validator
    instance = error.instance
    rule: Any = error.validator_value
    if "propertyNames" in error.absolute_schema_path:
        return [*parts, str(instance)], [_plain(error)]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = _allowed(error.schema)
        extra = sorted(k for k in instance if k not in allowed)
        if len(extra) != 1:
            return parts, [f"unknown fields {extra} (allowed: {', '.join(allowed)})"]
        return [*parts, extra[0]], [f"unknown field {extra[0]!r} (allowed: {', '.join(allowed)})"]
    if keyword == "required" and isinstance(instance, dict):
        missing = [r for r in rule if r not in instance]
        name = missing[0] if missing else "?"
        return [*parts, name], [f"missing required field {name!r}"]
    if keyword in ("oneOf", "anyOf"):
        if all(isinstance(b, dict) and "required" in b for b in rule):
            names = ", ".join(repr(b["required"][0]) for b in rule)
            word = "exactly one" if keyword == "oneOf" else "at least one"
            return parts, [f"needs {word} of {names}"]
        if error.context:
            return _describe(best_match(error.context))
    return parts, [_plain(error)]


def _plain(error: ValidationError) -> str:
    if error.validator == "pattern" and error.validator_value == _DNS_LABEL:
        return (
            f"{error.instance!r} is not a valid name: use lower-case letters, digits and '-',"
            " starting and ending with a letter or digit"
        )
    if error.validator == "type":
        got = _JSON_TYPES.get(type(error.instance).__name__, type(error.instance).__name__)
        want = error.validator_value
        wanted = " or ".join(want) if isinstance(want, list) else str(want)
        return f"expected {wanted}, got {got}"
    if error.validator in ("minProperties", "maxProperties") and error.absolute_schema_path:
        allowed = _allowed(error.schema)
        if error.validator_value == 1 and allowed:
            return f"needs exactly one of {', '.join(allowed)}"
        if error.validator == "minProperties":
            return "must not be empty"
    return error.message


def schema_issues(kind: str, raw: Any) -> list[tuple[str, str]]:
    """Validate ``raw`` against the schema of ``kind``; return sorted ``(json path, message)``."""
    found: set[tuple[str, str]] = set()
    for error in _validator(kind).iter_errors(raw):
        parts, messages = _describe(error)
        path = json_path(*parts)
        found.update((path, message) for message in messages)
    return sorted(found)
