"""Three-way merge of plain data: the user's changes and the template's, over a common base.

Mappings merge key by key; lists of mappings that all carry a unique ``name``
merge item by item (by name); any other list is a single value. At each value:
both sides equal → that value; one side unchanged from the base → the other
side; both changed differently → a conflict, which keeps ``ours`` in the
merged result and is always reported. A key removed on one side and unchanged
on the other is removed; removed on one side and changed on the other is a
conflict.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Final

from plinth.capabilities.templates.bounds import format_path

__all__ = [
    "MISSING",
    "MergeConflict",
    "MergeResult",
    "merge_values",
    "three_way_merge",
]


class _Missing:
    """The absence of a value (a key not present on one side)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Missing:
        return self


MISSING: Final = _Missing()


@dataclass(frozen=True)
class MergeConflict:
    """A value both sides changed differently; ``None`` stands for an absent value."""

    path: str
    base: Any
    ours: Any
    theirs: Any
    workload: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the conflict as plain JSON data."""
        return {
            "workload": self.workload,
            "path": self.path,
            "base": self.base,
            "ours": self.ours,
            "theirs": self.theirs,
        }


@dataclass(frozen=True)
class MergeResult:
    """The merged value and every conflict found (the merged value keeps ours there)."""

    merged: Any
    conflicts: list[MergeConflict] = field(default_factory=list)


def _same(a: Any, b: Any) -> bool:
    """Deep equality that tells ``1``, ``1.0`` and ``True`` apart."""
    if a is b:
        return True
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same(value, b[key]) for key, value in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and bool(a == b)


def _named(value: Any) -> bool:
    """Return whether ``value`` is a list of mappings with unique string names."""
    if not isinstance(value, list):
        return False
    names = [item.get("name") if isinstance(item, dict) else None for item in value]
    return all(isinstance(name, str) for name in names) and len(set(names)) == len(names)


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def _merge(
    path: tuple[str, ...], base: Any, ours: Any, theirs: Any, conflicts: list[MergeConflict]
) -> Any:
    if _same(ours, theirs) or _same(theirs, base):
        return ours
    if _same(ours, base):
        return theirs
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return _merge_mappings(path, base, ours, theirs, conflicts)
    if _named(ours) and _named(theirs):
        return _merge_named(path, base, ours, theirs, conflicts)
    where = format_path(path) if path else ""
    conflicts.append(MergeConflict(where, _plain(base), _plain(ours), _plain(theirs)))
    return ours


def _merge_mappings(
    path: tuple[str, ...],
    base: Any,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    conflicts: list[MergeConflict],
) -> dict[str, Any]:
    old = base if isinstance(base, dict) else {}
    merged: dict[str, Any] = {}
    for key in [*ours, *(key for key in theirs if key not in ours)]:
        value = _merge(
            (*path, str(key)),
            old.get(key, MISSING),
            ours.get(key, MISSING),
            theirs.get(key, MISSING),
            conflicts,
        )
        if value is not MISSING:
            merged[key] = value
    return merged


def _merge_named(
    path: tuple[str, ...],
    base: Any,
    ours: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    conflicts: list[MergeConflict],
) -> list[Any]:
    as_map = _merge_mappings(
        path,
        {item["name"]: item for item in base} if _named(base) else {},
        {item["name"]: item for item in ours},
        {item["name"]: item for item in theirs},
        conflicts,
    )
    return list(as_map.values())


def merge_values(base: Any, ours: Any, theirs: Any) -> MergeResult:
    """Like :func:`three_way_merge`, but any side may be :data:`MISSING` (absent)."""
    conflicts: list[MergeConflict] = []
    merged = _merge((), base, ours, theirs, conflicts)
    return MergeResult(copy.deepcopy(merged), conflicts)


def three_way_merge(base: Any, ours: Any, theirs: Any) -> MergeResult:
    """Merge ``ours`` and ``theirs``, both derived from ``base``; report every conflict."""
    return merge_values(base, ours, theirs)
