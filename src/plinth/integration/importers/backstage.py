"""Read Backstage catalog descriptors (``catalog-info.yaml``) and check them thoroughly.

A descriptor file holds one or more YAML documents, each an entity with
``apiVersion`` (``backstage.io/v1alpha1`` or ``v1beta1``), ``kind``, ``metadata``
and ``spec``. Entity references are written ``[kind:][namespace/]name``; a
missing kind takes the default of the field that holds the reference, and a
missing namespace the namespace of the entity that writes it.

Every problem is an ``Issue`` naming the file, the document (counted from 0) and
the JSON path; all of them are collected before one ``SpecError`` is raised.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from plinth.core.documents import json_path
from plinth.core.errors import Issue, SpecError

__all__ = [
    "API_VERSIONS",
    "KINDS",
    "Catalog",
    "Entity",
    "EntityRef",
    "format_ref",
    "load_catalog",
    "parse_ref",
]

API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
KINDS = ("Component", "API", "Resource", "System", "Domain", "Group", "User", "Location")
_IGNORED_KINDS = ("Template",)  # scaffolder templates: not imported, skipped with a note
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_NAME = 63


@dataclass(frozen=True)
class EntityRef:
    """A full entity reference: kind (lower case), namespace and name."""

    kind: str
    namespace: str
    name: str


def format_ref(ref: EntityRef) -> str:
    """Return ``kind:namespace/name``, the canonical written form."""
    return f"{ref.kind}:{ref.namespace}/{ref.name}"


def parse_ref(text: str, *, default_kind: str | None, default_namespace: str) -> EntityRef:
    """Parse ``[kind:][namespace/]name``; ValueError with a reason when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("an entity reference must be a non-empty string")
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = "", text
    namespace, slash, name = rest.partition("/")
    if not slash:
        namespace, name = "", rest
    if sep and not kind:
        raise ValueError(f"{text!r}: empty kind before ':'")
    if slash and not namespace:
        raise ValueError(f"{text!r}: empty namespace before '/'")
    if not name or ":" in name or "/" in name:
        raise ValueError(f"{text!r} is not of the form [kind:][namespace/]name")
    if not kind:
        if default_kind is None:
            raise ValueError(f"{text!r} needs a kind here, e.g. resource:{text}")
        kind = default_kind
    return EntityRef(kind.lower(), (namespace or default_namespace).lower(), name)


@dataclass(frozen=True)
class Entity:
    """One valid entity and where it was written."""

    kind: str
    namespace: str
    name: str
    raw: dict[str, Any]
    file: str
    index: int
    refs: dict[str, list[EntityRef]] = field(default_factory=dict)

    @property
    def ref(self) -> EntityRef:
        """Return this entity's own reference."""
        return EntityRef(self.kind.lower(), self.namespace, self.name)

    @property
    def metadata(self) -> dict[str, Any]:
        """Return ``metadata``."""
        meta = self.raw.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def spec(self) -> dict[str, Any]:
        """Return ``spec`` (empty when absent)."""
        spec = self.raw.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def annotations(self) -> dict[str, str]:
        """Return ``metadata.annotations`` as strings."""
        found = self.metadata.get("annotations")
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def one(self, field_name: str) -> EntityRef | None:
        """Return the single reference held by ``spec.<field_name>``, if any."""
        found = self.refs.get(field_name) or []
        return found[0] if found else None


@dataclass
class Catalog:
    """Every entity of a set of descriptor files, by reference, plus skipped documents."""

    entities: dict[EntityRef, Entity] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Entity]:
        """Return the entities of one kind, sorted by reference."""
        found = [e for e in self.entities.values() if e.kind == kind]
        return sorted(found, key=lambda e: (e.namespace, e.name))


# field -> (default kind or None when the kind must be written, many values?, allowed kinds)
_REF_FIELDS: dict[str, dict[str, tuple[str | None, bool, tuple[str, ...]]]] = {
    "Component": {
        "owner": ("group", False, ("group", "user")),
        "system": ("system", False, ("system",)),
        "subcomponentOf": ("component", False, ("component",)),
        "providesApis": ("api", True, ("api",)),
        "consumesApis": ("api", True, ("api",)),
        "dependsOn": (None, True, ("component", "resource")),
    },
    "API": {"owner": ("group", False, ("group", "user")), "system": ("system", False, ("system",))},
    "Resource": {
        "owner": ("group", False, ("group", "user")),
        "system": ("system", False, ("system",)),
        "dependsOn": (None, True, ("component", "resource")),
        "dependencyOf": (None, True, ("component", "resource")),
    },
    "System": {
        "owner": ("group", False, ("group", "user")),
        "domain": ("domain", False, ("domain",)),
    },
    "Domain": {
        "owner": ("group", False, ("group", "user")),
        "subdomainOf": ("domain", False, ("domain",)),
    },
    "Group": {
        "parent": ("group", False, ("group",)),
        "children": ("group", True, ("group",)),
        "members": ("user", True, ("user",)),
    },
    "User": {"memberOf": ("group", True, ("group",))},
    "Location": {},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "Component": ("type", "lifecycle", "owner"),
    "API": ("type", "lifecycle", "owner", "definition"),
    "Resource": ("type", "owner"),
    "System": ("owner",),
    "Domain": ("owner",),
    "Group": ("type", "children"),
    "User": (),
    "Location": (),
}


def _metadata_issues(raw: dict[str, Any]) -> list[tuple[str, str]]:
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        return [("$.metadata", "missing required field 'metadata' (a mapping with a name)")]
    problems: list[tuple[str, str]] = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        problems.append(("$.metadata.name", "missing required field 'name' (a non-empty string)"))
    elif len(name) > _MAX_NAME or not _NAME.match(name):
        problems.append(
            (
                "$.metadata.name",
                f"{name!r} is not a valid entity name: 1-63 of letters, digits, '-', '_' and '.',"
                " starting and ending with a letter or digit",
            )
        )
    namespace = meta.get("namespace", "default")
    if (
        not isinstance(namespace, str)
        or len(namespace) > _MAX_NAME
        or not _NAMESPACE.match(namespace)
    ):
        problems.append(("$.metadata.namespace", f"{namespace!r} is not a valid namespace"))
    for key in ("labels", "annotations"):
        value = meta.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append((json_path("metadata", key), "expected a mapping of strings"))
    return problems


def _spec_issues(kind: str, spec: dict[str, Any]) -> list[tuple[str, str]]:
    problems = [
        (json_path("spec", name), f"missing required field {name!r} for a {kind}")
        for name in _REQUIRED[kind]
        if name not in spec
    ]
    for name in ("type", "lifecycle"):
        if name in spec and (not isinstance(spec[name], str) or not spec[name]):
            problems.append((json_path("spec", name), "expected a non-empty string"))
    if (
        kind == "Location"
        and not isinstance(spec.get("target"), str | list)
        and not spec.get("targets")
    ):
        problems.append(("$.spec.target", "a Location needs 'target' or 'targets'"))
    return problems


def _refs_of(
    kind: str, spec: dict[str, Any], namespace: str
) -> tuple[dict[str, list[EntityRef]], list[tuple[str, str]]]:
    refs: dict[str, list[EntityRef]] = {}
    problems: list[tuple[str, str]] = []
    for name, (default, many, allowed) in _REF_FIELDS[kind].items():
        if name not in spec or spec[name] is None:
            continue
        value = spec[name]
        if many and not isinstance(value, list):
            problems.append((json_path("spec", name), "expected a list of entity references"))
            continue
        items = value if many else [value]
        for position, item in enumerate(items):
            path = json_path("spec", name, position) if many else json_path("spec", name)
            try:
                ref = parse_ref(item, default_kind=default, default_namespace=namespace)
            except ValueError as exc:
                problems.append((path, str(exc)))
                continue
            if ref.kind not in allowed:
                problems.append((path, f"{item!r} must refer to a {' or '.join(allowed)}"))
                continue
            refs.setdefault(name, []).append(ref)
    return refs, problems


def _check(raw: Any, file: str, index: int) -> tuple[Entity | None, list[Issue], str | None]:
    """Return the entity (or None), its issues, and a note when the document is skipped."""

    def issues(found: list[tuple[str, str]]) -> list[Issue]:
        return [Issue(message, path, index, file) for path, message in found]

    if not isinstance(raw, dict):
        return (
            None,
            issues([("$", f"document must be a mapping, not a {type(raw).__name__}")]),
            None,
        )
    api_version, kind = raw.get("apiVersion"), raw.get("kind")
    if api_version not in API_VERSIONS and not (
        kind in _IGNORED_KINDS and isinstance(api_version, str)
    ):
        known = ", ".join(API_VERSIONS)
        return (
            None,
            issues([("$.apiVersion", f"unknown apiVersion {api_version!r} (known: {known})")]),
            None,
        )
    if kind in _IGNORED_KINDS:
        return None, [], f"{file} document {index}: {kind} entities are not imported (skipped)"
    if kind not in KINDS:
        message = f"unknown kind {kind!r} (known: {', '.join(KINDS)})"
        return None, issues([("$.kind", message)]), None
    problems = _metadata_issues(raw)
    spec = raw.get("spec", {})
    if not isinstance(spec, dict):
        return None, issues([*problems, ("$.spec", "expected a mapping")]), None
    problems.extend(_spec_issues(kind, spec))
    namespace = str(raw.get("metadata", {}).get("namespace", "default")).lower()
    refs, ref_problems = _refs_of(kind, spec, namespace)
    problems.extend(ref_problems)
    if problems:
        return None, issues(problems), None
    name = str(raw["metadata"]["name"])
    return Entity(kind, namespace, name, raw, file, index, refs), [], None


def _parse(text: str, file: str) -> tuple[list[tuple[int, Any]], list[Issue]]:
    found: list[tuple[int, Any]] = []
    index = 0
    try:
        for raw in yaml.safe_load_all(text):
            if raw is not None:
                found.append((index, raw))
            index += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return found, [
            Issue(f"invalid YAML{where}: {getattr(exc, 'problem', exc)}", "$", index, file)
        ]
    return found, []


def _unresolved(catalog: Catalog) -> list[Issue]:
    issues: list[Issue] = []
    for entity in catalog.entities.values():
        for name, refs in sorted(entity.refs.items()):
            many = _REF_FIELDS[entity.kind][name][1]
            for position, ref in enumerate(refs):
                if ref in catalog.entities:
                    continue
                path = json_path("spec", name, position) if many else json_path("spec", name)
                message = f"{format_ref(ref)} is not defined in the files given"
                issues.append(Issue(message, path, entity.index, entity.file))
    return issues


def load_catalog(files: Sequence[tuple[str, str]]) -> Catalog:
    """Parse and check ``(file name, text)`` pairs; raise one ``SpecError`` with every issue."""
    catalog = Catalog()
    issues: list[Issue] = []
    for file, text in files:
        parsed, parse_issues = _parse(text, file)
        issues.extend(parse_issues)
        if not parsed and not parse_issues:
            issues.append(Issue("file contains no documents", "$", None, file))
        for index, raw in parsed:
            entity, found, note = _check(raw, file, index)
            issues.extend(found)
            if note:
                catalog.skipped.append(note)
            if entity is None:
                continue
            first = catalog.entities.setdefault(entity.ref, entity)
            if first is not entity:
                message = (
                    f"{format_ref(entity.ref)} is already defined in {first.file}"
                    f" document {first.index}"
                )
                issues.append(Issue(message, "$.metadata.name", index, file))
    issues.extend(_unresolved(catalog))
    if issues:
        raise SpecError(issues)
    return catalog
