"""Template versions and applications, parsed from their documents.

The JSON Schemas in ``catalog/schemas`` check the shape of a document; this
module checks what a schema cannot: semantic versions, bound paths and limits,
the parameters schema itself, and the placeholders the workloads use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jsonschema
import yaml

from plinth.capabilities.templates.bounds import Bound, parse_path
from plinth.capabilities.templates.placeholders import APP_KEYS, references
from plinth.core.errors import InvalidInput, Issue, NotFound, SpecError
from plinth.core.quantities import parse_quantity

__all__ = [
    "Application",
    "TemplateVersion",
    "builtin_templates",
    "latest",
    "parse_version",
]

_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


def parse_version(version: str) -> tuple[int, int, int]:
    """Return ``(major, minor, patch)`` of a ``MAJOR.MINOR.PATCH`` version string."""
    match = _SEMVER.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise InvalidInput(f"{version!r} is not a version of the form MAJOR.MINOR.PATCH (1.2.0)")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def _mapping(value: Any, path: str, issues: list[Issue]) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    issues.append(Issue("must be a mapping", path))
    return {}


@dataclass(frozen=True)
class TemplateVersion:
    """One version of a template: parameters, Score workloads with placeholders, bounds."""

    name: str
    version: str
    description: str
    parameters_schema: dict[str, Any]
    workloads: list[dict[str, Any]]
    bounds: tuple[Bound, ...]
    raw: dict[str, Any] = field(repr=False)

    @property
    def version_key(self) -> tuple[int, int, int]:
        """Return the version as a sortable tuple."""
        return parse_version(self.version)

    @classmethod
    def from_document(cls, raw: dict[str, Any]) -> TemplateVersion:
        """Parse a Template document; raise SpecError naming each problem's JSON path."""
        issues: list[Issue] = []
        document = _mapping(raw, "$", issues)
        metadata = _mapping(document.get("metadata"), "$.metadata", issues)
        spec = _mapping(document.get("spec"), "$.spec", issues)
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            issues.append(Issue("a template needs a name", "$.metadata.name"))
        version = spec.get("version")
        try:
            parse_version(version)  # type: ignore[arg-type]
        except InvalidInput as error:
            issues.append(Issue(error.detail, "$.spec.version"))
        description = spec.get("description", "")
        schema = _mapping(spec.get("parameters", {"type": "object"}), "$.spec.parameters", issues)
        issues.extend(_schema_issues(schema))
        workloads = spec.get("workloads")
        if not isinstance(workloads, list) or not workloads:
            issues.append(Issue("a template renders at least one workload", "$.spec.workloads"))
            workloads = []
        for index, workload in enumerate(workloads):
            _mapping(workload, f"$.spec.workloads[{index}]", issues)
        issues.extend(_placeholder_issues(schema, workloads))
        bounds = _parse_bounds(spec.get("bounds", []), schema, issues)
        if issues:
            raise SpecError(issues)
        return cls(
            name=str(name),
            version=str(version),
            description=str(description),
            parameters_schema=schema,
            workloads=workloads,
            bounds=tuple(bounds),
            raw=document,
        )


def _schema_issues(schema: dict[str, Any]) -> Iterator[Issue]:
    path = "$.spec.parameters"
    if schema.get("type", "object") != "object":
        yield Issue("the parameters schema must have type: object", f"{path}.type")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        yield Issue(f"not a valid JSON Schema: {error.message}", path + where)


def _placeholder_issues(
    schema: dict[str, Any], value: Any, path: str = "$.spec.workloads"
) -> Iterator[Issue]:
    declared = schema.get("properties")
    properties: dict[str, Any] = declared if isinstance(declared, dict) else {}
    closed = isinstance(declared, dict) and schema.get("additionalProperties", False) is False
    for where, expr in references(value, path):
        prefix, _, rest = expr.partition(".")
        first = rest.split(".", 1)[0]
        if not first:
            yield Issue(f"placeholder ${{{expr}}} names nothing", where)
        elif prefix == "app" and rest not in APP_KEYS:
            known = ", ".join(f"app.{key}" for key in APP_KEYS)
            yield Issue(f"placeholder ${{{expr}}} is unknown; use one of {known}", where)
        elif prefix == "params" and closed and first not in properties:
            yield Issue(f"placeholder ${{{expr}}}: no parameter {first!r} is declared", where)


def _parse_bounds(raw: Any, schema: dict[str, Any], issues: list[Issue]) -> list[Bound]:
    if not isinstance(raw, list):
        issues.append(Issue("bounds must be a list", "$.spec.bounds"))
        return []
    bounds = []
    for index, item in enumerate(raw):
        path = f"$.spec.bounds[{index}]"
        found: list[Issue] = []
        bound = _parse_bound(_mapping(item, path, found), path, found)
        if bound is not None:
            found.extend(_placeholder_issues(schema, bound.workload, f"{path}.workload"))
        issues.extend(found)
        if bound is not None and not found:
            bounds.append(bound)
    return bounds


def _parse_bound(item: dict[str, Any], path: str, issues: list[Issue]) -> Bound | None:
    try:
        segments = parse_path(item.get("path"), wildcards=True)  # type: ignore[arg-type]
    except InvalidInput as error:
        issues.append(Issue(error.detail, f"{path}.path"))
        return None
    limits = {key: item.get(key) for key in ("min", "max")}
    amounts = {}
    for key, limit in limits.items():
        if limit is not None:
            try:
                amounts[key] = parse_quantity(limit)
            except InvalidInput as error:
                issues.append(Issue(error.detail, f"{path}.{key}"))
                return None
    if len(amounts) == 2 and amounts["min"] > amounts["max"]:
        issues.append(Issue(f"min {limits['min']} is above max {limits['max']}", path))
    enum = item.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        issues.append(Issue("enum must be a non-empty list", f"{path}.enum"))
    any_value = item.get("any", False) is True
    constrained = enum is not None or any(v is not None for v in limits.values())
    if any_value and constrained:
        issues.append(Issue("any: true cannot be combined with min, max or enum", path))
    if not any_value and not constrained:
        issues.append(Issue("a bound needs min, max, enum or any: true", path))
    workload = item.get("workload")
    return Bound(
        path=item["path"],
        segments=segments,
        workload=workload if isinstance(workload, str) else None,
        min=limits["min"],
        max=limits["max"],
        enum=tuple(enum) if isinstance(enum, list) else None,
        any=any_value,
        description=item.get("description"),
    )


def latest(versions: list[TemplateVersion]) -> TemplateVersion:
    """Return the highest version (by semantic version order)."""
    if not versions:
        raise NotFound("no template versions to choose from")
    return max(versions, key=lambda template: template.version_key)


@dataclass(frozen=True)
class Application:
    """A use of a template: which one, which version, parameters and overrides."""

    name: str
    template: str
    version: str | None
    parameters: dict[str, Any]
    overrides: list[dict[str, Any]]

    @classmethod
    def from_document(cls, raw: dict[str, Any]) -> Application:
        """Parse an Application document; raise SpecError naming each problem's JSON path."""
        issues: list[Issue] = []
        document = _mapping(raw, "$", issues)
        metadata = _mapping(document.get("metadata"), "$.metadata", issues)
        spec = _mapping(document.get("spec"), "$.spec", issues)
        name, template = metadata.get("name"), spec.get("template")
        if not isinstance(name, str) or not name:
            issues.append(Issue("an application needs a name", "$.metadata.name"))
        if not isinstance(template, str) or not template:
            issues.append(Issue("name the template to use", "$.spec.template"))
        version = spec.get("version")
        if version is not None:
            try:
                parse_version(version)
            except InvalidInput as error:
                issues.append(Issue(error.detail, "$.spec.version"))
        parameters = _mapping(spec.get("parameters", {}), "$.spec.parameters", issues)
        overrides = spec.get("overrides", [])
        if not isinstance(overrides, list):
            issues.append(Issue("overrides must be a list", "$.spec.overrides"))
            overrides = []
        if issues:
            raise SpecError(issues)
        return cls(str(name), str(template), version, parameters, overrides)


def builtin_templates() -> list[dict[str, Any]]:
    """Return the raw Template documents shipped with Plinth (web-service, ...)."""
    folder = resources.files("plinth.capabilities.templates").joinpath("builtin")
    documents: list[dict[str, Any]] = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            documents.extend(d for d in yaml.safe_load_all(entry.read_text("utf-8")) if d)
    return documents
