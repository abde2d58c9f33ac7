"""Plain data for declarative documents and the provider resources they become.

Every layer uses these types: the importers build ``ResourceSpec`` values from
``Document`` values, the catalog loads ``Document`` values from YAML, and the
planner orders and diffs ``ResourceSpec`` values.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plinth.core.errors import Issue, SpecError

__all__ = [
    "Document",
    "ResourceSpec",
    "json_path",
    "merge_shared",
    "order_resources",
    "parse_provenance",
    "provenance",
]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PROVENANCE = re.compile(r"^(?P<file>.*?)#(?P<document>\d+)(?: (?P<where>.*))?$")


def json_path(*parts: str | int, root: str = "$") -> str:
    """Return a JSON path such as ``$.containers.web.image`` or ``$.a['b.c'][0]``."""
    out = [root]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.match(part):
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


def provenance(file: str | None, document: int, where: str = "") -> str:
    """Return ``file#document where``: the ``source`` of a resource, for messages."""
    base = f"{file or '<input>'}#{document}"
    return f"{base} {where}" if where else base


def parse_provenance(source: str) -> tuple[str | None, int | None, str]:
    """Return ``(file, document, where)`` of a ``provenance`` string, else ``(None, None, it)``."""
    match = _PROVENANCE.match(source)
    if match is None:
        return None, None, source
    file = match.group("file")
    where = match.group("where") or ""
    return (None if file == "<input>" else file), int(match.group("document")), where


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True)
class Document:
    """One loaded, validated declarative document (``apiVersion``/``kind``/``metadata``)."""

    api_version: str
    kind: str
    name: str
    raw: dict[str, Any]
    index: int
    file: str | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """Return the document's ``metadata`` mapping."""
        meta = self.raw.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def spec(self) -> dict[str, Any]:
        """Return the document's ``spec`` mapping (empty when absent)."""
        spec = self.raw.get("spec", {})
        return spec if isinstance(spec, dict) else {}

    @property
    def annotations(self) -> dict[str, str]:
        """Return ``metadata.annotations`` (empty when absent)."""
        return _string_map(self.metadata.get("annotations"))

    @property
    def labels(self) -> dict[str, str]:
        """Return ``metadata.labels`` (empty when absent)."""
        return _string_map(self.metadata.get("labels"))

    @property
    def source(self) -> str:
        """Return ``file#index`` for messages."""
        return provenance(self.file, self.index)


@dataclass(frozen=True)
class ResourceSpec:
    """One provider resource to realise, with placeholders still unresolved.

    ``spec`` may hold placeholders of the canonical form
    ``${resources.<resource name>.<output path>}``; ``depends_on`` names every
    resource they refer to. ``source`` says where it came from, as written by
    ``provenance`` (``web.yaml#0 resources.db``).
    """

    name: str
    type: str
    spec: dict[str, Any]
    workload: str | None
    depends_on: frozenset[str]
    source: str
    shared: bool = False


def _issue_at(spec: ResourceSpec, message: str, path: str | None = None) -> Issue:
    file, document, where = parse_provenance(spec.source)
    where_path = "$." + where if where and document is not None else "$"
    return Issue(message, path or where_path, document, file)


def _origin(spec: ResourceSpec) -> str:
    file, document, _ = parse_provenance(spec.source)
    return spec.source if document is None else provenance(file, document)


def merge_shared(specs: list[ResourceSpec]) -> list[ResourceSpec]:
    """Keep one of each shared resource; refuse differing declarations and name clashes."""
    kept: dict[str, ResourceSpec] = {}
    issues: list[Issue] = []
    for spec in specs:
        first = kept.setdefault(spec.name, spec)
        if first is spec:
            continue
        one, two = _origin(first), _origin(spec)
        if not (first.shared and spec.shared):
            message = f"resource name {spec.name} is used by both {first.source} and {spec.source}"
            issues.append(_issue_at(spec, message))
        elif (first.type, first.spec) != (spec.type, spec.spec):
            differ = sorted(
                k
                for k in first.spec.keys() | spec.spec.keys()
                if first.spec.get(k) != spec.spec.get(k)
            )
            what = "type" if first.type != spec.type else ", ".join(differ)
            message = (
                f"shared resource {spec.name} is declared differently by {one} and {two} ({what})"
            )
            issues.append(_issue_at(spec, message))
    if issues:
        raise SpecError(issues)
    return list(kept.values())


def _where_referenced(spec: ResourceSpec, target: str) -> tuple[str, str]:
    """Return ``(ref, json path)`` of the first placeholder in ``spec`` naming ``target``."""
    pattern = re.compile(r"(?<!\$)\$\{(resources\." + re.escape(target) + r"(?:\.[^}]*)?)\}")
    for path, text in _walk_strings(spec.spec, "$"):
        match = pattern.search(text)
        if match is not None:
            return match.group(1), path
    return f"resources.{target}", "$"


def _walk_strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _walk_strings(v, json_path(k, root=path))]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _walk_strings(v, json_path(i, root=path))]
    return []


def _cycle(remaining: dict[str, ResourceSpec]) -> list[str]:
    """Follow dependencies among ``remaining`` (each has one) until a name repeats."""
    seen: list[str] = [min(remaining)]
    while True:
        nxt = min(d for d in remaining[seen[-1]].depends_on if d in remaining)
        if nxt in seen:
            loop = seen[seen.index(nxt) :]
            start = loop.index(min(loop))
            loop = loop[start:] + loop[:start]
            return [*loop, loop[0]]
        seen.append(nxt)


def order_resources(specs: list[ResourceSpec]) -> list[ResourceSpec]:
    """Return ``specs`` with every resource after those it depends on (ties by name)."""
    by_name = {s.name: s for s in specs}
    issues: list[Issue] = []
    if len(by_name) != len(specs):
        names = sorted({s.name for s in specs if s is not by_name[s.name]})
        message = f"duplicate resource names {names}: merge shared resources first"
        raise SpecError([Issue(message)])
    for spec in sorted(specs, key=lambda s: s.name):
        for missing in sorted(spec.depends_on - by_name.keys()):
            ref, path = _where_referenced(spec, missing)
            message = (
                f"unresolvable placeholder ${{{ref}}} in resource {spec.name}: no such resource"
            )
            issues.append(_issue_at(spec, message, path))
    if issues:
        raise SpecError(issues)
    waiting = {s.name: set(s.depends_on) for s in specs}
    dependents: dict[str, list[str]] = {name: [] for name in by_name}
    for name, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(name)
    ready = [name for name, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    ordered: list[ResourceSpec] = []
    while ready:
        name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for child in dependents[name]:
            waiting[child].discard(name)
            if not waiting[child]:
                heapq.heappush(ready, child)
    if len(ordered) < len(by_name):
        remaining = {n: by_name[n] for n in by_name if waiting[n]}
        loop = _cycle(remaining)
        message = "dependency cycle: " + " -> ".join(loop)
        raise SpecError([_issue_at(by_name[loop[0]], message)])
    return ordered
