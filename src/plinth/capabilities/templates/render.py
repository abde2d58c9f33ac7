"""Rendering a template version into Score workloads, with the user's overrides applied."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from plinth.capabilities.templates.bounds import (
    Bound,
    BoundViolation,
    check_override,
    format_path,
    parse_path,
)
from plinth.capabilities.templates.model import TemplateVersion
from plinth.capabilities.templates.placeholders import child_path, substitute
from plinth.core.errors import InvalidInput, Issue, SpecError

__all__ = [
    "Rendering",
    "apply_overrides",
    "render",
    "resolve_parameters",
    "template_context",
]

_PARAMETERS = "$.spec.parameters"
_OVERRIDES = "$.spec.overrides"


@dataclass(frozen=True)
class Rendering:
    """The Score workloads a template renders for one application."""

    template: str
    version: str
    workloads: list[dict[str, Any]]
    parameters: dict[str, Any]
    violations: list[BoundViolation] = field(default_factory=list)


def _with_defaults(schema: Any, value: Any) -> Any:
    """Fill ``properties.*.default`` into ``value``, recursively into given objects."""
    if not isinstance(schema, dict) or not isinstance(value, dict):
        return value
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return value
    for name, sub in properties.items():
        if name not in value and isinstance(sub, dict) and "default" in sub:
            value[name] = copy.deepcopy(sub["default"])
        if name in value:
            value[name] = _with_defaults(sub, value[name])
    return value


def _unknown_parameters(
    schema: Any, values: dict[str, Any], path: str = _PARAMETERS, *, strict: bool = False
) -> Iterator[Issue]:
    """Name each undeclared key; unless ``strict``, only when the schema says nothing of them."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        properties = {}
        if not strict:
            return
    open_keys = ("additionalProperties", "patternProperties", "unevaluatedProperties")
    if not strict and any(key in schema for key in open_keys):
        return
    patterns = schema.get("patternProperties", {}) if strict else {}
    for name in values:
        if name not in properties and not any(re.search(p, name) for p in patterns):
            known = ", ".join(sorted(properties)) or "none"
            message = f"unknown parameter {name!r} (this template accepts: {known})"
            yield Issue(message, child_path(path, name))


def resolve_parameters(template: TemplateVersion, parameters: dict[str, Any]) -> dict[str, Any]:
    """Return the parameters with defaults filled in; raise SpecError if they are invalid."""
    if not isinstance(parameters, dict):
        raise SpecError([Issue("parameters must be a mapping", _PARAMETERS)])
    schema = template.parameters_schema
    values: dict[str, Any] = _with_defaults(schema, copy.deepcopy(parameters))
    issues = list(_unknown_parameters(schema, values))
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.path))):
        path = _PARAMETERS
        for key in error.absolute_path:
            path = child_path(path, key)
        if error.validator == "additionalProperties" and error.validator_value is False:
            issues.extend(_unknown_parameters(error.schema, error.instance, path, strict=True))
        else:
            issues.append(Issue(error.message, path))
    if issues:
        raise SpecError(issues)
    return values


def _set(document: dict[str, Any], segments: tuple[str, ...], value: Any, where: str) -> None:
    """Set ``value`` at ``segments`` inside ``document``, creating missing mappings."""
    node: Any = document
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        if isinstance(node, list):
            if not segment.isdigit() or int(segment) >= len(node):
                at = format_path(segments[: depth + 1])
                raise SpecError([Issue(f"{at}: no such list item", where)])
            key: Any = int(segment)
        elif isinstance(node, dict):
            key = segment
            if not last and key not in node:
                node[key] = {}
        else:
            at = format_path(segments[:depth])
            raise SpecError([Issue(f"{at} holds a {type(node).__name__}, not a mapping", where)])
        if last:
            node[key] = copy.deepcopy(value)
        else:
            node = node[key]


def _target(override: dict[str, Any], where: str, names: list[str], missing_ok: bool) -> str | None:
    workload = override.get("workload")
    if workload is None:
        if len(names) == 1:
            return names[0]
        message = f"name the workload: the template renders {', '.join(names)}"
        raise SpecError([Issue(message, f"{where}.workload")])
    if workload in names:
        return str(workload)
    if missing_ok:
        return None
    message = f"the template renders no workload {workload!r} (it renders {', '.join(names)})"
    raise SpecError([Issue(message, f"{where}.workload")])


def apply_overrides(
    template: TemplateVersion,
    *,
    context: dict[str, Any],
    workloads: list[dict[str, Any]],
    overrides: list[dict[str, Any]],
    missing_ok: bool = False,
) -> list[BoundViolation]:
    """Apply overrides in place to rendered workloads; return those outside the bounds.

    With ``missing_ok``, an override naming a workload that is not rendered is skipped
    instead of refused (used when checking old overrides against a new version).
    """
    if not isinstance(overrides, list):
        raise SpecError([Issue("overrides must be a list", _OVERRIDES)])
    by_name = {str(w["metadata"]["name"]): w for w in workloads}
    bounds = _rendered_bounds(template, context)
    violations = []
    for index, override in enumerate(overrides):
        where = f"{_OVERRIDES}[{index}]"
        if not isinstance(override, dict) or "value" not in override:
            raise SpecError([Issue("an override needs a path and a value", where)])
        try:
            segments = parse_path(override.get("path"))  # type: ignore[arg-type]
        except InvalidInput as error:
            raise SpecError([Issue(error.detail, f"{where}.path")]) from None
        name = _target(override, where, list(by_name), missing_ok)
        if name is None:
            continue
        _set(by_name[name], segments, override["value"], f"{where}.path")
        violation = check_override(
            bounds,
            template=f"{template.name} {template.version}",
            workload=name,
            segments=segments,
            value=override["value"],
        )
        if violation is not None:
            violations.append(violation)
    return violations


def _rendered_bounds(
    template: TemplateVersion, context: dict[str, Any]
) -> list[tuple[Bound, str | None]]:
    return [
        (bound, None if bound.workload is None else str(substitute(bound.workload, context)))
        for bound in template.bounds
    ]


def _names(workloads: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for index, workload in enumerate(workloads):
        metadata = workload.get("metadata") if isinstance(workload, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        where = f"$.spec.workloads[{index}].metadata.name"
        if not isinstance(name, str) or not name:
            raise SpecError([Issue("a rendered workload needs metadata.name", where)])
        if name in seen:
            raise SpecError([Issue(f"two rendered workloads are named {name!r}", where)])
        seen.add(name)


def template_context(
    *, app: str, environment: str, project: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    """Return what ``${app.*}`` and ``${params.*}`` placeholders resolve against."""
    return {
        "params": parameters,
        "app": {"name": app, "environment": environment, "project": project},
    }


def render(
    template: TemplateVersion,
    *,
    app: str,
    environment: str,
    project: str,
    parameters: dict[str, Any],
    overrides: list[dict[str, Any]],
) -> Rendering:
    """Render a template version for one application, applying and checking its overrides."""
    values = resolve_parameters(template, parameters)
    context = template_context(app=app, environment=environment, project=project, parameters=values)
    workloads: list[dict[str, Any]] = [
        substitute(workload, context, path=f"$.spec.workloads[{index}]")
        for index, workload in enumerate(template.workloads)
    ]
    _names(workloads)
    violations = apply_overrides(
        template, context=context, workloads=workloads, overrides=overrides
    )
    return Rendering(template.name, template.version, workloads, values, violations)
