"""Template placeholders: ``${params.<name>}`` and ``${app.name|environment|project}``.

Only these two prefixes belong to templates. Every other ``${...}`` (Score's
``${resources.db.uri}``, ``${metadata.name}``) and Score's ``$$`` escape are
left exactly as written, for the Score implementation to resolve later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from plinth.core.errors import Issue, SpecError

__all__ = [
    "APP_KEYS",
    "child_path",
    "references",
    "substitute",
]

APP_KEYS = ("name", "environment", "project")
_PREFIXES = ("params", "app")
_PLACEHOLDER = re.compile(r"\$\$|\$\{(?P<expr>[^}]*)\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def child_path(path: str, key: str | int) -> str:
    """Return the JSON path of ``key`` inside the value at ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _is_ours(expr: str) -> bool:
    return expr.split(".", 1)[0] in _PREFIXES


def references(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Yield ``(json_path, expression)`` for each template placeholder in ``value``."""
    if isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            expr = match["expr"]
            if expr is not None and _is_ours(expr):
                yield path, expr
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(key, path)
            yield from references(item, child_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, child_path(path, index))


def _lookup(expr: str, context: Mapping[str, Any], path: str) -> Any:
    current: Any = context
    for segment in expr.split("."):
        if not isinstance(current, Mapping) or segment not in current:
            message = f"placeholder ${{{expr}}} has no value (no parameter given and no default)"
            raise SpecError([Issue(message, path)])
        current = current[segment]
    return current


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _substitute_text(text: str, context: Mapping[str, Any], path: str) -> Any:
    whole = _PLACEHOLDER.fullmatch(text)
    if whole is not None and whole["expr"] is not None and _is_ours(whole["expr"]):
        return _lookup(whole["expr"], context, path)

    def replace(match: re.Match[str]) -> str:
        expr = match["expr"]
        if expr is None or not _is_ours(expr):
            return match[0]
        return _as_text(_lookup(expr, context, path))

    return _PLACEHOLDER.sub(replace, text)


def substitute(value: Any, context: Mapping[str, Any], *, path: str = "$") -> Any:
    """Return a copy of ``value`` with template placeholders replaced from ``context``.

    A string that is exactly one placeholder takes the value itself (an integer
    port stays an integer); otherwise values are interpolated as text.
    """
    if isinstance(value, str):
        return _substitute_text(value, context, path)
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            new_key = _as_text(_substitute_text(key, context, path))
            result[new_key] = substitute(item, context, path=child_path(path, key))
        return result
    if isinstance(value, list):
        return [
            substitute(item, context, path=child_path(path, index))
            for index, item in enumerate(value)
        ]
    return value
