"""Override bounds: which paths of a rendered workload a user may change, and how far.

A path names a value inside a Score workload with dotted segments
(``containers.main.resources.limits.memory``). A segment holding dots or
brackets is quoted: ``metadata.annotations["plinth.dev/schedule"]``. In a
bound, a bare ``*`` segment matches any one segment. A segment of digits
indexes a list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from plinth.core.errors import InvalidInput
from plinth.core.quantities import parse_quantity

__all__ = [
    "WILDCARD",
    "Bound",
    "BoundViolation",
    "check_override",
    "format_path",
    "parse_path",
]

WILDCARD = "*"

_TOKEN = re.compile(r'(?P<bare>[^.\[\]"]+)|\["(?P<quoted>(?:[^"\\]|\\.)*)"\]')
_BARE = re.compile(r'[^.\[\]"]+')


def parse_path(path: str, *, wildcards: bool = False) -> tuple[str, ...]:
    """Split a dotted path into segments; ``wildcards`` allows bare ``*`` segments."""
    if not isinstance(path, str) or not path:
        raise InvalidInput("a path must be a non-empty string such as containers.main.image")
    segments: list[str] = []
    position = 0
    while True:
        match = _TOKEN.match(path, position)
        if match is None:
            raise InvalidInput(f"path {path!r}: unexpected character at position {position}")
        if match["bare"] is not None:
            segment = match["bare"]
            if WILDCARD in segment and (segment != WILDCARD or not wildcards):
                where = "as a whole segment in a bound" if wildcards else "only in bounds"
                raise InvalidInput(f"path {path!r}: '*' is allowed {where}")
        else:
            segment = re.sub(r"\\(.)", r"\1", match["quoted"])
            if not segment:
                raise InvalidInput(f"path {path!r}: a quoted segment must not be empty")
        segments.append(segment)
        position = match.end()
        if position == len(path):
            return tuple(segments)
        if path[position] == ".":
            position += 1
            if position == len(path):
                raise InvalidInput(f"path {path!r}: it must not end with '.'")
        elif path[position] != "[":
            raise InvalidInput(f"path {path!r}: unexpected character at position {position}")


def format_path(segments: tuple[str, ...] | list[str]) -> str:
    """Join segments into the dotted form that :func:`parse_path` reads back."""
    parts: list[str] = []
    for segment in segments:
        if _BARE.fullmatch(segment):
            parts.append(f".{segment}" if parts else segment)
        else:
            escaped = segment.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'["{escaped}"]')
    return "".join(parts)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


@dataclass(frozen=True)
class Bound:
    """One overridable path of a template, with the limits a value must keep to."""

    path: str
    segments: tuple[str, ...]
    workload: str | None = None
    min: str | int | float | None = None
    max: str | int | float | None = None
    enum: tuple[Any, ...] | None = None
    any: bool = False
    description: str | None = None

    def matches(self, segments: tuple[str, ...]) -> bool:
        """Return whether this bound's path covers the given concrete path."""
        return len(segments) == len(self.segments) and all(
            mine in (WILDCARD, theirs) for mine, theirs in zip(self.segments, segments, strict=True)
        )

    @property
    def specificity(self) -> int:
        """Return the number of non-wildcard segments (the more, the more specific)."""
        return sum(segment != WILDCARD for segment in self.segments)

    def describe(self) -> str:
        """Return the limits in words, e.g. ``min 64Mi, max 1Gi``."""
        if self.any:
            return "any value"
        parts = []
        if self.enum is not None:
            parts.append("one of " + ", ".join(_show(choice) for choice in self.enum))
        if self.min is not None:
            parts.append(f"min {self.min}")
        if self.max is not None:
            parts.append(f"max {self.max}")
        return ", ".join(parts)

    def problem(self, value: Any) -> str | None:
        """Return why ``value`` breaks this bound (``exceeds max 1Gi``), or None."""
        if self.any:
            return None
        if self.enum is not None and not any(_same(value, choice) for choice in self.enum):
            return f"is not one of {', '.join(_show(choice) for choice in self.enum)}"
        if self.min is None and self.max is None:
            return None
        amount = _amount(value)
        if amount is None:
            return f"is not a number or quantity (allowed: {self.describe()})"
        if self.max is not None and amount > parse_quantity(self.max):
            return f"exceeds max {self.max}"
        if self.min is not None and amount < parse_quantity(self.min):
            return f"is below min {self.min}"
        return None


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and bool(a == b)


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        return parse_quantity(value)
    except InvalidInput:
        return None


@dataclass(frozen=True)
class BoundViolation:
    """An override outside its template's bounds: allowed only with an approval."""

    workload: str
    path: str
    value: Any
    bound: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Return the violation as plain JSON data."""
        return {
            "workload": self.workload,
            "path": self.path,
            "value": self.value,
            "bound": self.bound,
            "message": self.message,
        }


def check_override(
    bounds: list[tuple[Bound, str | None]],
    *,
    template: str,
    workload: str,
    segments: tuple[str, ...],
    value: Any,
) -> BoundViolation | None:
    """Check one override against bounds given with their rendered workload names.

    The most specific matching bound decides (fewest wildcards; the first declared
    on a tie). No matching bound, or a value outside it, gives a violation.
    """
    path = format_path(segments)
    candidates = [
        bound
        for bound, target in bounds
        if (target is None or target == workload) and bound.matches(segments)
    ]
    shown = f"{path}={_show(value)}"
    if not candidates:
        message = f"{path} is not declared overridable by template {template}"
        return BoundViolation(workload, path, value, None, message)
    bound = max(candidates, key=lambda candidate: candidate.specificity)
    problem = bound.problem(value)
    if problem is None:
        return None
    return BoundViolation(workload, path, value, bound.describe(), f"{shown} {problem}")
