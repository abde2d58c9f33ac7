"""Plain data of policy as code: packs, results, evaluations and test outcomes.

A pack is a set of Rego modules (and their tests) with a version and optional data.
Rules are the partial sets ``deny``, ``warn`` and ``needs_approval``; each element is a
message string or an object ``{"msg", "resource"?, "rule"?, "severity"?, "fix"?,
"remediation"?}``. OPA's older ``deny[msg] { ... }`` style comes back from the engine as
an object whose keys are the messages; ``results_from`` accepts both shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from plinth.core.digest import digest

__all__ = [
    "LEVELS",
    "Evaluation",
    "Level",
    "Pack",
    "PolicyResult",
    "TestOutcome",
    "results_from",
]

Level = Literal["deny", "warn", "needs_approval"]
LEVELS: tuple[Level, ...] = ("deny", "needs_approval", "warn")
_SEVERITY = {"deny": "high", "needs_approval": "medium", "warn": "low"}
_SEVERITIES = ("low", "medium", "high", "critical")
_REMEDIATIONS = ("restore", "rotate-secret", "stop")


@dataclass(frozen=True)
class Pack:
    """One version of a policy pack: Rego modules, their tests, data and enforcement."""

    name: str
    version: str
    modules: Mapping[str, str]
    tests: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    enforcement: Literal["enforce", "warn"] = "enforce"
    source: str = "builtin"

    @property
    def ref(self) -> str:
        """Return ``name@version``."""
        return f"{self.name}@{self.version}"

    @cached_property
    def key(self) -> str:
        """Return the digest of what is compiled (modules, tests and data)."""
        return digest(
            {"modules": dict(self.modules), "tests": dict(self.tests), "data": dict(self.data)}
        )

    def summary(self) -> dict[str, Any]:
        """Return the pack without its Rego text (for listings)."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "enforcement": self.enforcement,
            "source": self.source,
            "modules": sorted(self.modules),
            "tests": sorted(self.tests),
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class PolicyResult:
    """One rule that fired: where it comes from, how strongly, and what to change."""

    pack: str
    rule: str
    level: Level
    message: str
    resource: str | None = None
    severity: str = "medium"
    fix: str | None = None
    remediation: str | None = None

    @property
    def rule_id(self) -> str:
        """Return ``pack/rule``, the name exceptions use."""
        return f"{self.pack}/{self.rule}"

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON data."""
        return {
            "pack": self.pack,
            "rule": self.rule,
            "level": self.level,
            "message": self.message,
            "resource": self.resource,
            "severity": self.severity,
            "fix": self.fix,
            "remediation": self.remediation,
        }

    def describe(self) -> str:
        """Return one line: rule, resource and message."""
        where = f" [{self.resource}]" if self.resource else ""
        return f"{self.rule_id}{where}: {self.message}"


@dataclass(frozen=True)
class Evaluation:
    """The results of evaluating packs on one input; errors mean it failed closed."""

    results: tuple[PolicyResult, ...]
    packs: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the evaluation as JSON data."""
        return {
            "packs": list(self.packs),
            "results": [r.as_dict() for r in self.results],
            "errors": list(self.errors),
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


@dataclass(frozen=True)
class TestOutcome:
    """One ``test_*`` rule of a pack: passed, failed or errored."""

    pack: str
    package: str
    name: str
    passed: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the outcome as JSON data."""
        return {
            "pack": self.pack,
            "package": self.package,
            "name": self.name,
            "passed": self.passed,
            "error": self.error,
        }


def _elements(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):  # OPA v0 ``deny[msg] { ... }``: the messages are the keys
        found: list[Any] = []
        for key in value:
            try:
                parsed = json.loads(key) if key.startswith("{") else key
            except ValueError:
                parsed = key
            found.append(parsed)
        return found
    return [value]


def _one(pack: Pack, package: str, level: Level, element: Any) -> PolicyResult:
    fallback = package.rsplit(".", 1)[-1]
    if not isinstance(element, Mapping):
        return PolicyResult(pack.name, fallback, level, str(element), severity=_SEVERITY[level])
    severity = str(element.get("severity") or _SEVERITY[level])
    remediation = element.get("remediation")
    resource = element.get("resource")
    fix = element.get("fix")
    return PolicyResult(
        pack=pack.name,
        rule=str(element.get("rule") or fallback),
        level=level,
        message=str(element.get("msg") or element.get("message") or "(no message)"),
        resource=str(resource) if resource else None,
        severity=severity if severity in _SEVERITIES else _SEVERITY[level],
        fix=str(fix) if fix else None,
        remediation=str(remediation) if remediation in _REMEDIATIONS else None,
    )


def results_from(pack: Pack, raw: list[list[Any]]) -> list[PolicyResult]:
    """Turn the engine's ``[package, level, value]`` triples into results (sorted, once)."""
    found: set[PolicyResult] = set()
    for package, level, value in raw:
        if level not in LEVELS:
            continue
        for element in _elements(value):
            result = _one(pack, str(package), level, element)
            if pack.enforcement == "warn" and result.level != "warn":
                result = PolicyResult(**(result.as_dict() | {"level": "warn"}))
            found.add(result)
    order = {level: i for i, level in enumerate(LEVELS)}
    return sorted(found, key=lambda r: (order[r.level], r.rule_id, r.resource or "", r.message))
