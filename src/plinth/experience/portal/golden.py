"""Golden-path forms: fields generated from a template's parameters JSON Schema.

Values are coerced to the schema's types where they parse (so that the platform's own
validation, the API's, reports what is still wrong), and the platform's errors are
placed beside the field they name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from plinth.capabilities.catalog.kinds import schema_issues
from plinth.capabilities.templates import TemplateVersion
from plinth.capabilities.templates.render import resolve_parameters
from plinth.core.errors import Issue, SpecError

__all__ = [
    "FormField",
    "application_yaml",
    "coerce",
    "fields_of",
    "place_issues",
    "precheck",
]

NAME_HINT = "lower-case letters, digits and dashes; at most 63 characters"


@dataclass(frozen=True)
class FormField:
    """One input of a golden-path form."""

    name: str
    kind: str  # text, integer, number, boolean, select
    label: str
    description: str = ""
    default: Any = None
    required: bool = False
    options: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None


def fields_of(schema: Mapping[str, Any]) -> list[FormField]:
    """Return the form fields of a parameters schema (objects and arrays are left to YAML)."""
    required = set(schema.get("required") or [])
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        kind = str(prop.get("type", "string"))
        if "enum" in prop:
            kind = "select"
        elif kind not in ("integer", "number", "boolean"):
            kind = "text"
        fields.append(
            FormField(
                name=str(name),
                kind=kind,
                label=str(prop.get("title") or name).replace("_", " "),
                description=str(prop.get("description", "")),
                default=prop.get("default"),
                required=name in required,
                options=[str(v) for v in prop.get("enum", [])],
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
            )
        )
    return fields


def _coerce_one(form_field: FormField, raw: str) -> Any:
    if form_field.kind == "boolean":
        return raw in ("true", "on", "1")
    if form_field.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if form_field.kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def coerce(fields: Sequence[FormField], form: Mapping[str, str]) -> dict[str, Any]:
    """Return the parameters a form sets (empty optional fields are left out)."""
    values: dict[str, Any] = {}
    for form_field in fields:
        raw = form.get(f"param.{form_field.name}", "")
        if form_field.kind == "boolean":
            values[form_field.name] = _coerce_one(form_field, raw)
        elif raw.strip() != "":
            values[form_field.name] = _coerce_one(form_field, raw.strip())
    return values


def application_yaml(
    *, name: str, template: str, version: str, parameters: Mapping[str, Any], description: str
) -> str:
    """Return the Application document a golden-path form describes."""
    metadata: dict[str, Any] = {"name": name}
    if description:
        metadata["annotations"] = {"plinth.dev/description": description}
    document = {
        "apiVersion": "plinth.dev/v1",
        "kind": "Application",
        "metadata": metadata,
        "spec": {"template": template, "version": version, "parameters": dict(parameters)},
    }
    return yaml.safe_dump(document, sort_keys=False)


_PATHS = {
    "$.metadata.name": "name",
    "$.metadata.annotations": "description",
    "$.metadata": "name",
}


def place_issues(issues: Sequence[Issue]) -> tuple[dict[str, list[str]], list[str]]:
    """Return the platform's issues by form field (``param.<name>``, ``name``...) and the rest."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for issue in issues:
        path = issue.path or ""
        target = None
        if path.startswith("$.spec.parameters."):
            target = "param." + path.removeprefix("$.spec.parameters.").split(".")[0]
        else:
            target = next((f for p, f in _PATHS.items() if path.startswith(p)), None)
        if target is None:
            general.append(f"{path}: {issue.message}" if path else issue.message)
        else:
            by_field.setdefault(target, []).append(issue.message)
    return by_field, general


def precheck(raw_template: Mapping[str, Any], document: str) -> list[Issue]:
    """Return every issue of a form's document at once: the kind's schema and the parameters.

    The same checks the platform runs when it plans (which stops at the first failing one);
    the plan runs them again.
    """
    body = yaml.safe_load(document)
    issues = [Issue(message, path) for path, message in schema_issues("Application", body)]
    try:
        resolve_parameters(
            TemplateVersion.from_document(dict(raw_template)), body["spec"]["parameters"]
        )
    except SpecError as exc:
        issues.extend(exc.issues)
    return issues
