"""Plinth's live state as Backstage entities (the reverse of ``backstage_mapping``).

Teams become Groups (and their members Users), projects Systems (their
``plinth.dev/domain`` label a Domain), workloads Components, resources
Resources. Entities are made from live state each time, so what was deleted in
Plinth is simply absent: no orphans. Templates are not exported: a Backstage
scaffolder Template needs steps that run, and Plinth's templates are used
through ``plinth apply``, not through Backstage's scaffolder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from plinth.integration.importers.backstage_mapping import CATALOG_PREFIX, DOMAIN_LABEL

__all__ = ["LiveState", "dump_entities", "to_entities"]

_API = "backstage.io/v1alpha1"
RESOURCE_ID = "plinth.dev/resource-id"
LOCATION = "backstage.io/managed-by-location"
ORIGIN = "backstage.io/managed-by-origin-location"
_LIFECYCLE = {"prod": "production", "staging": "experimental", "dev": "experimental"}


@dataclass
class LiveState:
    """The plain facts an export needs (gathered by the orchestration layer)."""

    teams: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)
    workloads: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)


def _entity(
    kind: str, name: str, spec: dict[str, Any], location: str, **meta: Any
) -> dict[str, Any]:
    annotations = {LOCATION: f"url:{location}", ORIGIN: f"url:{location}"}
    annotations.update(meta.pop("annotations", {}))
    metadata: dict[str, Any] = {"name": name, "annotations": annotations}
    metadata.update({k: v for k, v in meta.items() if v})
    return {"apiVersion": _API, "kind": kind, "metadata": metadata, "spec": spec}


def _people(state: LiveState, location: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    groups_of: dict[str, list[str]] = {}
    for team in state.teams:
        members = sorted(team.get("members") or [])
        for user in members:
            groups_of.setdefault(user, []).append(f"group:default/{team['name']}")
        spec = {"type": "team", "children": [], "members": members}
        found.append(
            _entity("Group", team["name"], spec, location, description=team.get("description"))
        )
    for user, groups in sorted(groups_of.items()):
        found.append(_entity("User", user, {"memberOf": sorted(groups)}, location))
    return found


def _catalog_entries(project: dict[str, Any], owner: str, location: str) -> list[dict[str, Any]]:
    found = []
    for key, value in sorted((project.get("annotations") or {}).items()):
        if not key.startswith(CATALOG_PREFIX):
            continue
        kind_word, _, name = key[len(CATALOG_PREFIX) :].partition(".")
        kind = {"component": "Component", "resource": "Resource", "api": "API"}.get(kind_word)
        if kind is None or not name:
            continue
        spec: dict[str, Any] = json.loads(value)
        description = spec.pop("description", None)
        spec.update({"owner": owner, "system": project["name"]})
        if kind == "API":
            spec.setdefault("definition", "(recorded by Plinth)")
        found.append(_entity(kind, name, spec, location, description=description))
    return found


def _systems(state: LiveState, location: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    domains: dict[str, str] = {}
    for project in state.projects:
        owner = f"group:default/{project['team']}"
        spec: dict[str, Any] = {"owner": owner}
        domain = (project.get("labels") or {}).get(DOMAIN_LABEL)
        if domain:
            spec["domain"] = domain
            domains.setdefault(domain, owner)
        found.append(
            _entity(
                "System", project["name"], spec, location, description=project.get("description")
            )
        )
        found.extend(_catalog_entries(project, owner, location))
    for domain, owner in sorted(domains.items()):
        found.append(_entity("Domain", domain, {"owner": owner}, location))
    return found


def _unique(keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Return each ``(project, name)``'s entity name: ``project-name`` when names repeat."""
    projects: dict[str, int] = {}  # Backstage names are unique per kind in a namespace
    for _, name in keys:
        projects[name] = projects.get(name, 0) + 1
    found = {}
    for project, name in keys:
        unique = name if projects[name] == 1 else f"{project}-{name}"
        if len(unique) > 63:
            unique = f"{unique[:54]}-{hashlib.sha256(unique.encode()).hexdigest()[:8]}"
        found[(project, name)] = unique
    return found


def _resource_keys(state: LiveState) -> dict[tuple[str, str], dict[str, Any]]:
    """Return the resources exported as Resources (the workloads' own are Components)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for resource in sorted(state.resources, key=lambda r: (r["project"], r["name"], r["id"])):
        if resource["name"] in (resource.get("workloads") or []):
            continue  # the workload itself: exported as its Component
        seen.setdefault((resource["project"], resource["name"]), resource)
    return seen


def _components(state: LiveState, location: str) -> list[dict[str, Any]]:
    teams = {p["name"]: p["team"] for p in state.projects}
    resource_names = _unique(set(_resource_keys(state)))
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for workload in sorted(state.workloads, key=lambda w: (w["project"], w["name"], w["tier"])):
        key = (workload["project"], workload["name"])
        entry = merged.setdefault(key, {**workload, "tiers": set(), "environments": []})
        entry["tiers"].add(workload["tier"])
        entry["environments"].append(workload["environment"])
    depends: dict[tuple[str, str], set[str]] = {}
    for resource in state.resources:
        target = resource_names.get((resource["project"], resource["name"]))
        for workload in resource.get("workloads") or []:
            if target and workload != resource["name"]:
                key = (resource["project"], workload)
                depends.setdefault(key, set()).add(f"resource:default/{target}")
    names = _unique(set(merged))
    found = []
    for (project, name), entry in sorted(merged.items()):
        lifecycle = "production" if "prod" in entry["tiers"] else "experimental"
        annotations = entry.get("annotations") or {}
        spec: dict[str, Any] = {
            "type": "job" if annotations.get("plinth.dev/type") == "job" else "service",
            "lifecycle": lifecycle,
            "owner": f"group:default/{teams.get(project, '')}",
            "system": project,
        }
        if depends.get((project, name)):
            spec["dependsOn"] = sorted(depends[(project, name)])
        for word, field_name in (("provides", "providesApis"), ("consumes", "consumesApis")):
            apis = annotations.get(f"plinth.dev/{word}-apis")
            if apis:
                spec[field_name] = sorted(apis.split(","))
        notes = {
            RESOURCE_ID: entry.get("resource_id") or "",
            "plinth.dev/environments": ",".join(sorted(set(entry["environments"]))),
        }
        found.append(
            _entity("Component", names[(project, name)], spec, location, annotations=notes)
        )
    return found


def _resources(state: LiveState, location: str) -> list[dict[str, Any]]:
    teams = {p["name"]: p["team"] for p in state.projects}
    seen = _resource_keys(state)
    names = _unique(set(seen))
    found = []
    for (project, name), resource in sorted(seen.items()):
        spec = {"type": resource["type"], "owner": f"group:default/{teams.get(project, '')}"}
        spec["system"] = project
        notes = {RESOURCE_ID: resource["id"]}
        found.append(_entity("Resource", names[(project, name)], spec, location, annotations=notes))
    return found


def to_entities(state: LiveState, *, location: str) -> list[dict[str, Any]]:
    """Return the entities of ``state``; ``location`` is the URL they are served from."""
    return [
        *_people(state, location),
        *_systems(state, location),
        *_components(state, location),
        *_resources(state, location),
    ]


def dump_entities(entities: Sequence[dict[str, Any]]) -> str:
    """Return entities as one multi-document YAML file (a ``catalog-info.yaml``)."""
    return yaml.safe_dump_all(list(entities), sort_keys=True, allow_unicode=True)
