"""Score-style placeholders: ``${a.b.c}`` references, with ``$${`` for a literal ``${``.

A reference is a dotted path; a dot inside one part is written ``\\.``
(``${metadata.annotations.plinth\\.dev/type}``). ``substitute`` replaces every
reference through a ``resolve`` function; a string that is exactly one
placeholder keeps the resolved value's type.

With ``final=False`` the result is itself a template: escapes stay escaped,
inserted text has its ``${`` escaped, and a resolver may return a ``Reference``
to leave (or rewrite) a placeholder for a later pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from plinth.core.documents import json_path
from plinth.core.errors import InvalidInput

__all__ = [
    "MalformedPlaceholder",
    "PlaceholderError",
    "Reference",
    "UnresolvedPlaceholder",
    "escape",
    "find_placeholders",
    "join_reference",
    "split_reference",
    "substitute",
]


class PlaceholderError(InvalidInput):
    """A placeholder could not be used; ``path`` is the JSON path where it occurred."""

    def __init__(self, ref: str, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}", extra={"ref": ref, "path": path})
        self.ref = ref
        self.path = path
        self.message = message


class UnresolvedPlaceholder(PlaceholderError):
    """A placeholder refers to something that does not exist."""

    def __init__(self, ref: str, path: str, reason: str = "") -> None:
        why = f": {reason}" if reason else ""
        super().__init__(ref, path, f"unresolvable placeholder ${{{ref}}}{why}")
        self.reason = reason


class MalformedPlaceholder(PlaceholderError):
    """A ``${`` without its closing ``}``, or an empty ``${}``."""

    def __init__(self, ref: str, path: str) -> None:
        super().__init__(ref, path, f"malformed placeholder '${{{ref}' (want ${{a.b.c}})")


@dataclass(frozen=True)
class Reference:
    """A resolver's answer meaning: emit the placeholder ``${ref}`` (only with ``final=False``)."""

    ref: str


def split_reference(ref: str) -> list[str]:
    """Split ``a.b\\.c`` into ``['a', 'b.c']``."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(ref):
        char = ref[i]
        if char == "\\" and i + 1 < len(ref) and ref[i + 1] == ".":
            current.append(".")
            i += 2
            continue
        if char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def join_reference(parts: list[str]) -> str:
    """Join parts into a reference, escaping dots inside parts (inverse of split)."""
    return ".".join(p.replace(".", "\\.") for p in parts)


def escape(text: str) -> str:
    """Return ``text`` with every ``${`` written as ``$${`` so it stays literal."""
    return text.replace("${", "$${")


def _tokens(text: str, path: str) -> Iterator[tuple[bool, str]]:
    """Yield ``(is_reference, text)`` pieces; literal pieces have escapes removed."""
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            end = text.find("}", i + 2)
            ref = text[i + 2 :] if end < 0 else text[i + 2 : end]
            if end < 0 or not ref.strip():
                raise MalformedPlaceholder(ref, path)
            if literal:
                yield False, "".join(literal)
                literal = []
            yield True, ref
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        yield False, "".join(literal)


def find_placeholders(value: Any, *, path: str = "$") -> set[str]:
    """Return every reference (``a.b.c``) found in strings nested anywhere in ``value``."""
    found: set[str] = set()
    for _, text, where in _strings(value, path):
        found.update(piece for is_ref, piece in _tokens(text, where) if is_ref)
    return found


def _strings(value: Any, path: str) -> Iterator[tuple[Any, str, str]]:
    if isinstance(value, str):
        yield value, value, path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, _child(path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, _child(path, index))


def _child(path: str, key: Any) -> str:
    part = key if isinstance(key, int | str) else str(key)
    return json_path(part, root=path)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def substitute(
    value: Any,
    resolve: Callable[[str], Any],
    *,
    path: str = "$",
    final: bool = True,
) -> Any:
    """Return a copy of ``value`` with every placeholder replaced through ``resolve``.

    ``resolve`` raises ``KeyError`` for an unknown reference; this raises
    ``UnresolvedPlaceholder`` carrying the JSON path where it occurred.
    """
    if isinstance(value, str):
        return _substitute_text(value, resolve, path, final)
    if isinstance(value, dict):
        return {
            k: substitute(v, resolve, path=_child(path, k), final=final) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            substitute(v, resolve, path=_child(path, i), final=final) for i, v in enumerate(value)
        ]
    return value


def _resolve_one(ref: str, resolve: Callable[[str], Any], path: str) -> Any:
    try:
        return resolve(ref)
    except KeyError as exc:
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
        raise UnresolvedPlaceholder(ref, path, reason if reason != ref else "") from None


def _substitute_text(text: str, resolve: Callable[[str], Any], path: str, final: bool) -> Any:
    if "${" not in text:
        return text
    pieces = list(_tokens(text, path))
    if len(pieces) == 1 and pieces[0][0]:
        resolved = _resolve_one(pieces[0][1], resolve, path)
        if isinstance(resolved, Reference):
            return _render_reference(resolved, path, final)
        return escape(resolved) if not final and isinstance(resolved, str) else resolved
    out: list[str] = []
    for is_ref, piece in pieces:
        if not is_ref:
            out.append(piece if final else escape(piece))
            continue
        resolved = _resolve_one(piece, resolve, path)
        if isinstance(resolved, Reference):
            out.append(_render_reference(resolved, path, final))
        else:
            out.append(_as_text(resolved) if final else escape(_as_text(resolved)))
    return "".join(out)


def _render_reference(reference: Reference, path: str, final: bool) -> str:
    if final:
        raise UnresolvedPlaceholder(reference.ref, path, "a final value is needed")
    return f"${{{reference.ref}}}"
