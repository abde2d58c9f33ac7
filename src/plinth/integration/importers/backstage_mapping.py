"""Turn a checked Backstage catalog into Plinth documents.

The mapping (see docs/backstage.md):

- Group → ``Team``; members are the Group's ``spec.members`` plus every User whose
  ``spec.memberOf`` names it (Plinth users are created by an administrator, so a
  User becomes a team membership, not an account).
- System → ``Project`` owned by the System's owner Group; its Domain becomes the
  label ``plinth.dev/domain``.
- Component with the annotation ``plinth.dev/score-file`` → the Score workload in
  that file, named after the Component, in the chosen environment and the
  System's project; the Resources it depends on are declared as its resources
  when their type maps (``postgres``, ``volume``, ``vm``).
- Any other Component, Resource and API → catalog metadata: an annotation
  ``catalog.plinth.dev/<kind>.<name>`` on the project (JSON), so that an export
  gives the same entities back. APIs also become the ``plinth.dev/provides-apis``
  and ``plinth.dev/consumes-apis`` annotations of the workloads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from plinth.core.errors import Issue, SpecError
from plinth.integration.importers.backstage import Catalog, Entity, EntityRef, format_ref

__all__ = [
    "CATALOG_PREFIX",
    "DOMAIN_LABEL",
    "REF_ANNOTATION",
    "RESOURCE_TYPES",
    "SCORE_FILE_ANNOTATION",
    "ImportPlan",
    "plinth_name",
    "to_plinth",
]

SCORE_FILE_ANNOTATION = "plinth.dev/score-file"
REF_ANNOTATION = "plinth.dev/backstage-ref"
DOMAIN_LABEL = "plinth.dev/domain"
CATALOG_PREFIX = "catalog.plinth.dev/"
RESOURCE_TYPES = {
    "database": "postgres",
    "postgres": "postgres",
    "postgresql": "postgres",
    "volume": "volume",
    "storage": "volume",
    "filesystem": "volume",
    "vm": "vm",
    "virtual-machine": "vm",
}
_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

ReadFile = Callable[[str, str], str]
"""``read(catalog file, path relative to it) -> text``: how Score files are read."""


@dataclass
class ImportPlan:
    """Plinth documents made from a catalog: organisation documents and scoped workloads."""

    organisation: list[dict[str, Any]] = field(default_factory=list)
    workloads: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Return counts and names, for people and scripts."""
        by_kind: dict[str, list[str]] = {}
        for doc in self.organisation:
            by_kind.setdefault(doc["kind"], []).append(doc["metadata"]["name"])
        return {
            "teams": sorted(by_kind.get("Team", [])),
            "projects": sorted(by_kind.get("Project", [])),
            "workloads": sorted(f"{p}/{w['metadata']['name']}" for _, p, w, _ in self.workloads),
            "notes": list(self.notes),
        }


def plinth_name(name: str) -> str:
    """Return the Plinth name for a Backstage name: lower case, '_' and '.' become '-'."""
    return re.sub(r"[_.]", "-", name.lower())


class _Mapper:
    def __init__(self, catalog: Catalog, environment: str, default_project: str | None) -> None:
        self.catalog = catalog
        self.environment = environment
        self.default_project = default_project
        self.issues: list[Issue] = []
        self.plan = ImportPlan(notes=list(catalog.skipped))
        self.names: dict[tuple[str, str], EntityRef] = {}

    def name_of(self, entity: Entity) -> str:
        name = plinth_name(entity.name)
        if not _DNS.match(name):
            self.fail(entity, "$.metadata.name", f"{entity.name!r} gives no valid Plinth name")
        first = self.names.setdefault((entity.kind, name), entity.ref)
        if first != entity.ref:
            self.fail(
                entity, "$.metadata.name", f"{name!r} is also the name of {format_ref(first)}"
            )
        return name

    def fail(self, entity: Entity, path: str, message: str) -> None:
        self.issues.append(Issue(message, path, entity.index, entity.file))

    def team_of(self, entity: Entity) -> str:
        owner = entity.one("owner")
        if owner is None:
            return ""
        if owner.kind == "user":
            groups = self.catalog.entities[owner].refs.get("memberOf") or []
            if not groups:
                self.fail(entity, "$.spec.owner", f"owner {format_ref(owner)} is in no group")
                return ""
            owner = groups[0]
        return plinth_name(owner.name)

    def project_of(self, entity: Entity) -> str | None:
        system = entity.one("system")
        if system is not None:
            return plinth_name(system.name)
        return self.default_project


def _team(mapper: _Mapper, group: Entity) -> dict[str, Any]:
    members = {plinth_name(r.name) for r in group.refs.get("members", [])}
    for user in mapper.catalog.of_kind("User"):
        if group.ref in user.refs.get("memberOf", []):
            members.add(plinth_name(user.name))
    found = group.spec.get("profile")
    profile: dict[str, Any] = found if isinstance(found, dict) else {}
    description = str(group.metadata.get("description") or profile.get("displayName") or "")
    spec: dict[str, Any] = {"members": [{"user": m} for m in sorted(members)]}
    if description:
        spec["description"] = description
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "Team",
        "metadata": {
            "name": mapper.name_of(group),
            "annotations": {REF_ANNOTATION: format_ref(group.ref)},
        },
        "spec": spec,
    }


def _catalog_value(entity: Entity) -> str:
    spec = {k: v for k, v in entity.spec.items() if k not in ("owner", "system", "definition")}
    description = entity.metadata.get("description")
    if description:
        spec["description"] = str(description)
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _project(mapper: _Mapper, system: Entity, extras: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": mapper.name_of(system),
        "annotations": {REF_ANNOTATION: format_ref(system.ref), **extras},
    }
    domain = system.one("domain")
    if domain is not None:
        metadata["labels"] = {DOMAIN_LABEL: plinth_name(domain.name)}
    spec: dict[str, Any] = {"team": mapper.team_of(system)}
    if system.metadata.get("description"):
        spec["description"] = str(system.metadata["description"])
    return {"apiVersion": "plinth.dev/v1", "kind": "Project", "metadata": metadata, "spec": spec}


def _score(mapper: _Mapper, component: Entity, project: str, read: ReadFile) -> None:
    relative = component.annotations[SCORE_FILE_ANNOTATION]
    path = f"$.metadata.annotations['{SCORE_FILE_ANNOTATION}']"
    try:
        text = read(component.file, relative)
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        mapper.fail(component, path, f"cannot read Score file {relative!r}: {exc}")
        return
    if len(docs) != 1 or not isinstance(docs[0], dict):
        mapper.fail(component, path, f"{relative!r} must hold exactly one Score workload")
        return
    workload: dict[str, Any] = docs[0]
    metadata = workload.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        mapper.fail(component, path, f"{relative!r}: metadata must be a mapping")
        return
    metadata["name"] = plinth_name(component.name)
    annotations = metadata.setdefault("annotations", {})
    annotations[REF_ANNOTATION] = format_ref(component.ref)
    for field_name, key in (("providesApis", "provides"), ("consumesApis", "consumes")):
        apis = component.refs.get(field_name) or []
        if apis:
            annotations[f"plinth.dev/{key}-apis"] = ",".join(plinth_name(a.name) for a in apis)
    resources = workload.setdefault("resources", {})
    for dep in component.refs.get("dependsOn", []):
        target = mapper.catalog.entities[dep]
        kind = RESOURCE_TYPES.get(str(target.spec.get("type", "")).lower())
        name = plinth_name(dep.name)
        if dep.kind == "resource" and kind and isinstance(resources, dict):
            resources.setdefault(name, {"type": kind, "id": name})
    mapper.plan.workloads.append((mapper.environment, project, workload, relative))


def to_plinth(
    catalog: Catalog,
    *,
    environment: str,
    read: ReadFile,
    default_project: str | None = None,
) -> ImportPlan:
    """Map the catalog to Plinth documents; raise ``SpecError`` naming every unmappable entity."""
    mapper = _Mapper(catalog, environment, default_project)
    for group in catalog.of_kind("Group"):
        mapper.plan.organisation.append(_team(mapper, group))
    extras: dict[str, dict[str, str]] = {}
    for kind in ("Component", "Resource", "API"):
        for entity in catalog.of_kind(kind):
            project = mapper.project_of(entity)
            if project is None:
                message = (
                    f"a {kind} needs spec.system (its Plinth project), or give a default "
                    "project (plinth import backstage --project NAME)"
                )
                mapper.fail(entity, "$.spec.system", message)
                continue
            name = mapper.name_of(entity)
            if kind == "Component" and SCORE_FILE_ANNOTATION in entity.annotations:
                _score(mapper, entity, project, read)
                continue
            key = f"{CATALOG_PREFIX}{kind.lower()}.{name}"
            extras.setdefault(project, {})[key] = _catalog_value(entity)
    systems = {plinth_name(s.name): s for s in catalog.of_kind("System")}
    for project in sorted(extras.keys() - systems.keys()):
        mapper.plan.notes.append(
            f"project {project} is not a System in these files: its catalog entries are not stored"
        )
    for name, system in sorted(systems.items()):
        mapper.plan.organisation.append(_project(mapper, system, extras.get(name, {})))
    if mapper.issues:
        raise SpecError(mapper.issues)
    return mapper.plan
