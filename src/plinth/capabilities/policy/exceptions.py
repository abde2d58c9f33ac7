"""Policy exceptions: explicit, owned, justified and expiring.

A ``PolicyException`` document names one rule (``<pack>/<rule>``), the resources it
covers (names or globs), optionally the environments, an owner, a justification and an
expiry (RFC 3339, in the future and at most 90 days ahead when it is planned). An
expired exception covers nothing. Excepted results are reported, never dropped silently.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from plinth.capabilities.policy.model import PolicyResult
from plinth.core.errors import Issue, SpecError

__all__ = [
    "MAX_DAYS",
    "PolicyExceptionRule",
    "apply_exceptions",
    "exception_issues",
    "parse_expiry",
    "require_valid_exception",
]

MAX_DAYS = 90


def parse_expiry(value: Any) -> datetime | None:
    """Return the expiry as an aware datetime, or None when it is not RFC 3339."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclass(frozen=True)
class PolicyExceptionRule:
    """One exception as the gate uses it."""

    name: str
    rule: str
    resources: tuple[str, ...]
    environments: tuple[str, ...]
    owner: str
    justification: str
    expires: datetime

    @classmethod
    def from_document(cls, body: Mapping[str, Any]) -> PolicyExceptionRule | None:
        """Return the exception, or None when the document is not usable (no expiry)."""
        spec = body.get("spec") or {}
        expires = parse_expiry(spec.get("expires"))
        if expires is None or not spec.get("owner") or not spec.get("rule"):
            return None
        return cls(
            name=str(body.get("metadata", {}).get("name", "")),
            rule=str(spec["rule"]),
            resources=tuple(str(r) for r in spec.get("resources") or ()),
            environments=tuple(str(e) for e in spec.get("environments") or ()),
            owner=str(spec["owner"]),
            justification=str(spec.get("justification", "")),
            expires=expires,
        )

    def covers(self, result: PolicyResult, *, environment: str, now: datetime) -> bool:
        """True if this exception is in force now and covers the result."""
        if now >= self.expires or result.rule_id != self.rule:
            return False
        if self.environments and environment not in self.environments:
            return False
        target = result.resource or ""
        return any(fnmatch.fnmatchcase(target, pattern) for pattern in self.resources)

    def as_dict(self) -> dict[str, Any]:
        """Return the exception as JSON data."""
        return {
            "name": self.name,
            "rule": self.rule,
            "resources": list(self.resources),
            "environments": list(self.environments),
            "owner": self.owner,
            "justification": self.justification,
            "expires": self.expires.isoformat(),
        }


def exception_issues(body: Mapping[str, Any], *, now: datetime) -> list[Issue]:
    """Return what is wrong with a PolicyException document (owner, justification, expiry)."""
    spec = body.get("spec") or {}
    issues: list[Issue] = []
    for key in ("owner", "justification"):
        if not str(spec.get(key) or "").strip():
            issues.append(Issue(f"an exception needs {key}: who answers for it and why", key))
    expires = parse_expiry(spec.get("expires"))
    if expires is None:
        issues.append(
            Issue("expires must be an RFC 3339 time with a zone, e.g. 2026-12-31T00:00:00Z", "")
        )
    elif expires <= now:
        issues.append(Issue(f"expires {spec['expires']} is in the past: exceptions expire", ""))
    elif expires - now > timedelta(days=MAX_DAYS):
        issues.append(
            Issue(
                f"expires {spec['expires']} is more than {MAX_DAYS} days ahead: renew instead", ""
            )
        )
    rule = str(spec.get("rule") or "")
    if "/" not in rule:
        issues.append(Issue("rule is <pack>/<rule>, e.g. default/registries", "rule"))
    if not spec.get("resources"):
        issues.append(Issue("name the resources it covers (names or globs)", "resources"))
    return [Issue(i.message, f"$.spec.{i.path or 'expires'}", i.document, i.file) for i in issues]


def require_valid_exception(
    body: Mapping[str, Any], *, now: datetime, index: int | None, file: str | None
) -> None:
    """Raise SpecError when a PolicyException document is not explicit, owned and expiring."""
    issues = exception_issues(body, now=now)
    if issues:
        raise SpecError([Issue(i.message, i.path, index, file) for i in issues])


def apply_exceptions(
    results: Iterable[PolicyResult],
    exceptions: Sequence[PolicyExceptionRule],
    now: datetime,
    *,
    environment: str = "",
) -> tuple[list[PolicyResult], list[tuple[PolicyResult, PolicyExceptionRule]]]:
    """Split results into those kept and those an exception in force covers."""
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    kept: list[PolicyResult] = []
    excepted: list[tuple[PolicyResult, PolicyExceptionRule]] = []
    for result in results:
        cover = next(
            (e for e in exceptions if e.covers(result, environment=environment, now=now)), None
        )
        if cover is None or result.rule == "evaluation":
            kept.append(result)
        else:
            excepted.append((result, cover))
    return kept, excepted
